"""Browser fixtures: the real service (``cloudmarket up`` on its own anvil) with billing against the local
Stripe wire server, and headless Chromium (Debian's ``chromium`` + ``chromium-driver``) through Selenium.

* ``console``: one service for the module — a ``cloudmarket up`` process (dev env, its own anvil, contracts
  deployed, background jobs on) configured with the Stripe wire server's keys, its stand-in Stripe.js URL
  and publishable key; the wire server (in a thread with its own event loop) POSTs its signed webhooks to
  the service. Tests that have no Chromium are SKIPPED with the reason (install hint), never passed.
* ``browser(user_key=...)``: a fresh Chromium per test with an injected EIP-1193 provider
  (``window.ethereum``) installed before any page script through CDP
  ``Page.addScriptToEvaluateOnNewDocument``. It answers ``eth_requestAccounts``/``eth_accounts`` with one
  anvil dev account and forwards every other call to anvil, which signs ``personal_sign`` and
  ``eth_sendTransaction`` with that account's key (anvil's dev accounts are unlocked).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from chain.devchain import free_port
from tests.support.stripe_server import StripeTestServer

REPO = Path(__file__).resolve().parents[2]
# The committed screenshots (README) are refreshed only on request, so `make test` leaves the tree clean:
# CLOUDMARKET_SCREENSHOTS=1 .venv/bin/python -m pytest tests/browser
SCREENSHOTS = (
    REPO / "docs" / "screenshots"
    if os.environ.get("CLOUDMARKET_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "cloudmarket-screenshots"
)
START_TIMEOUT = 90.0
INSTALL_HINT = (
    "Chromium is not available: install Debian's packages `apt-get install -y chromium chromium-driver` "
    "(`make test` does this when run as root) or set CLOUDMARKET_CHROMIUM / CLOUDMARKET_CHROMEDRIVER"
)


def chromium_paths() -> tuple[str, str] | None:
    browser = (
        os.environ.get("CLOUDMARKET_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    driver = os.environ.get("CLOUDMARKET_CHROMEDRIVER") or shutil.which("chromedriver")
    if not browser or not driver:
        return None
    return browser, driver


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    browser_items = [i for i in items if here in Path(str(i.fspath)).parents]
    for item in browser_items:
        item.add_marker(pytest.mark.browser)
        item.add_marker(pytest.mark.anvil)
    if not browser_items:
        return
    reason = None
    if chromium_paths() is None:
        reason = INSTALL_HINT
    else:
        try:
            import selenium  # noqa: F401
        except ImportError:
            reason = "selenium is not installed: `pip install -e '.[dev]'` (make does it)"
    if reason:
        for item in browser_items:
            item.add_marker(pytest.mark.skip(reason=reason))


# ---- the Stripe wire server in a thread ---------------------------------------------------------------
class ThreadedStripe:
    """``StripeTestServer`` on its own event loop in a daemon thread (the test itself is synchronous)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = StripeTestServer()
        self._thread = threading.Thread(target=self.loop.run_forever, name="stripe-wire", daemon=True)

    def __enter__(self) -> StripeTestServer:
        self._thread.start()
        self.call(self.server.__aenter__())
        return self.server

    def call(self, coro: Any) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(timeout=30)

    def __exit__(self, *exc: object) -> None:
        self.call(self.server.__aexit__(None, None, None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


# ---- the service ------------------------------------------------------------------------------------
def http_json(url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **(headers or {})}
    req = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 — loopback URL we built
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 — loopback URL we built
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@dataclass
class Console:
    base: str
    stripe: StripeTestServer
    rpc_url: str
    data_dir: Path
    log: Path
    proc: subprocess.Popen[bytes]
    accounts: list[str] = field(default_factory=list)
    # a port for the console hosted on another origin (listed in CLOUDMARKET_CORS_ORIGINS): test_cross_origin
    frontend_port: int = 0

    def url(self, path: str = "/") -> str:
        return self.base + path

    def dev_token(self, roles: list[str], sub: str) -> str:
        from api.auth.devissuer import mint_dev_token

        return mint_dev_token(self.data_dir, roles, sub)

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if method == "GET":
            return http_json(self.base + path, None, headers)
        req_body = {} if body is None else body
        data = json.dumps(req_body).encode()
        headers = {"Content-Type": "application/json", **headers}
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=20) as resp:  # noqa: S310 — loopback URL we built
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def output(self) -> str:
        return self.log.read_text(errors="replace")


# package scope: the service (and its anvil) stops once this worker has run the browser tests; a session
# fixture kept it polling (indexer, outbox, scheduler at test intervals) beside every later test
@pytest.fixture(scope="package")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    if not (REPO / "console" / "dist" / "index.html").is_file():
        pytest.fail("console/dist/index.html is missing: build the console first (`make console`)")
    data_dir = tmp_path_factory.mktemp("console-service")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    frontend_port = free_port()
    with ThreadedStripe() as stripe:
        stripe.webhook_url = f"{base}/api/payments/webhook"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDMARKET_")}
        env.update(
            {
                "CLOUDMARKET_DATA_DIR": str(data_dir),
                "CLOUDMARKET_HTTP_PORT": str(port),
                "CLOUDMARKET_DEV_CHAIN_PORT": str(free_port()),
                "CLOUDMARKET_LOG_LEVEL": "WARNING",
                "CLOUDMARKET_STRIPE_SECRET_KEY": stripe.secret_key,
                "CLOUDMARKET_STRIPE_WEBHOOK_SECRET": stripe.webhook_secret,
                "CLOUDMARKET_STRIPE_API_BASE": stripe.api_base,
                "CLOUDMARKET_STRIPE_PUBLISHABLE_KEY": stripe.publishable_key,
                "CLOUDMARKET_STRIPE_JS_URL": stripe.stripe_js_url,
                # quick background loops (the deploy flow waits on heartbeats, indexer and outbox)
                "CLOUDMARKET_NODE_HEARTBEAT_INTERVAL": "1",
                "CLOUDMARKET_SCHEDULER_WORKLOADS_INTERVAL": "1",
                "CLOUDMARKET_SCHEDULER_RETRY_INTERVAL": "1",
                "CLOUDMARKET_INDEXER_POLL_INTERVAL": "0.1",
                "CLOUDMARKET_TX_POLL_INTERVAL": "0.1",
                # 1 credit of collateral (default 100), so a provider's first card top-up covers it
                "CLOUDMARKET_PROVIDER_MIN_COLLATERAL": str(10**6),
                # the console hosted on another origin (test_cross_origin); SIWE messages name the service
                "CLOUDMARKET_CORS_ORIGINS": f"http://127.0.0.1:{frontend_port}",
                "CLOUDMARKET_SIWE_DOMAIN": f"127.0.0.1:{port}",
                "CLOUDMARKET_SIWE_URI": base,
            }
        )
        log = data_dir.parent / f"console-up-{port}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "up"],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"cloudmarket up exited with {proc.returncode}:\n{log.read_text()}")
                try:
                    status, _ = http_json(base + "/readyz")
                except OSError:
                    status = 0
                if status == 200:
                    break
                if time.monotonic() > deadline:
                    pytest.fail(f"cloudmarket up not ready in {START_TIMEOUT}s:\n{log.read_text()}")
                time.sleep(0.25)
            _, chain = http_json(base + "/api/chain")
            rpc = chain["rpc_url"]
            accounts = _rpc(rpc, "eth_accounts", [])
            yield Console(base, stripe, rpc, data_dir, log, proc, accounts, frontend_port)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)  # `up` takes its anvil with it even when killed
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _rpc(url: str, method: str, params: list[Any]) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 — loopback anvil
        out = json.loads(resp.read())
    if "error" in out:
        raise RuntimeError(out["error"])
    return out["result"]


# ---- the browser ------------------------------------------------------------------------------------
ETHEREUM_SHIM = r"""
(() => {
  const RPC = %(rpc)s, ACCOUNT = %(account)s;
  let id = 0;
  const listeners = {};
  async function forward(method, params) {
    const r = await fetch(RPC, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params: params || [] }),
    });
    const body = await r.json();
    if (body.error) {
      const e = new Error(body.error.message);
      e.code = body.error.code;
      e.data = body.error.data;
      throw e;
    }
    return body.result;
  }
  const provider = {
    isMetaMask: false,
    isCloudmarketTestWallet: true,
    calls: [],
    async request({ method, params }) {
      provider.calls.push(method);
      switch (method) {
        case "eth_requestAccounts":
        case "eth_accounts":
          return [ACCOUNT];
        case "wallet_switchEthereumChain":
        case "wallet_addEthereumChain":
          return null;
        default:
          return forward(method, params);
      }
    },
    on(ev, fn) { (listeners[ev] = listeners[ev] || []).push(fn); return provider; },
    removeListener(ev, fn) {
      listeners[ev] = (listeners[ev] || []).filter((f) => f !== fn);
      return provider;
    },
  };
  window.ethereum = provider;
  window.dispatchEvent(new Event("ethereum#initialized"));
})();
"""


@dataclass
class Browser:
    driver: Any
    console: Console
    account: str

    def open(self, path: str = "/") -> None:
        self.driver.get(self.console.url(path))

    def by_testid(self, testid: str, timeout: float = 15.0) -> Any:
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        visible = ec.visibility_of_element_located((By.CSS_SELECTOR, f'[data-testid="{testid}"]'))

        def look(driver: Any) -> Any:
            try:
                return visible(driver)
            except WebDriverException as exc:
                # a find_element that overlaps a navigation (a redirect to the login page, the SPA SDK's
                # return) is aborted by chromedriver ("aborted by navigation"): look again on the new page
                if "navigat" in str(exc.msg or ""):
                    return False
                raise

        try:
            return WebDriverWait(self.driver, timeout).until(look)
        except Exception as exc:
            raise AssertionError(
                f"no visible [data-testid={testid!r}] after {timeout}s:\n{self.describe()}"
            ) from exc

    def click(self, testid: str, timeout: float = 15.0) -> None:
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        el = self.by_testid(testid, timeout)
        WebDriverWait(self.driver, timeout).until(ec.element_to_be_clickable(el))
        el.click()

    def type(self, testid: str, text: str, *, clear: bool = True) -> None:
        from selenium.webdriver.common.keys import Keys

        el = self.by_testid(testid)
        if clear:
            # select all + delete, as a user would: fires `input`, so a controlled field's state is emptied
            # too (WebDriver's clear() does not, and a re-render would put the old value back)
            el.send_keys(Keys.CONTROL, "a")
            el.send_keys(Keys.DELETE)
        el.send_keys(text)

    def text(self, testid: str, timeout: float = 15.0) -> str:
        return str(self.by_testid(testid, timeout).text)

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = predicate()
            except Exception as exc:  # a stale element while the page re-renders: try again
                last = exc
            else:
                if last:
                    return last
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what} (last: {last!r}):\n{self.describe()}")

    def describe(self) -> str:
        """What the page shows now (for failure messages): URL, visible text, console errors."""
        try:
            body = self.driver.find_element("tag name", "body").text
        except Exception:  # best effort, for a failure message
            body = "<no body>"
        try:
            logs = [e["message"] for e in self.driver.get_log("browser")][-10:]
        except Exception:
            logs = []
        return (
            f"url={self.driver.current_url}\n--- page ---\n{body[:3000]}\n--- browser log ---\n"
            + "\n".join(logs)
        )

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path


@pytest.fixture
def browser_factory(console: Console) -> Iterator[Callable[..., Browser]]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = chromium_paths()
    assert paths is not None
    chromium, chromedriver = paths
    drivers: list[Any] = []

    def make(account_index: int = 7) -> Browser:
        opts = webdriver.ChromeOptions()
        opts.binary_location = chromium
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--window-size=1280,900",
            "--no-first-run",
            "--disable-extensions",
        ):
            opts.add_argument(arg)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=opts)
        drivers.append(driver)
        account = console.accounts[account_index]
        shim = ETHEREUM_SHIM % {"rpc": json.dumps(console.rpc_url), "account": json.dumps(account)}
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": shim})
        return Browser(driver, console, account)

    yield make
    for d in drivers:
        d.quit()
