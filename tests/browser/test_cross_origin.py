"""The console hosted on another origin (static hosting) against the API's CORS settings (issue 14).

A tiny static server serves ``console/dist`` unchanged on a second local port, with its own
``console-config.json`` whose ``api_base`` is the service (the documented runtime configuration, see
console/README.md "Hosting the console elsewhere"). The service lists that origin in
``CLOUDMARKET_CORS_ORIGINS`` (tests/browser/conftest.py): a wallet user signs in with SIWE and the wallet
page loads its balances across origins. From an origin the service does not list, the sign-in fails
visibly (the console names the likely cause: the API's CORS settings).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from chain.devchain import free_port
from tests.browser.conftest import REPO, Browser, Console, http_json

DIST = REPO / "console" / "dist"


class _Handler(SimpleHTTPRequestHandler):
    """Files of the build, ``/console-config.json`` from memory, ``index.html`` for any other path (SPA)."""

    config: bytes = b"{}"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/console-config.json":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(self.config)))
            self.end_headers()
            self.wfile.write(self.config)
            return
        if not (Path(self.directory) / path.lstrip("/")).is_file():
            self.path = "/index.html"
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def static_console(port: int, config: dict[str, Any]) -> Iterator[str]:
    handler = type("Handler", (_Handler,), {"config": json.dumps(config).encode()})
    server = ThreadingHTTPServer(("127.0.0.1", port), partial(handler, directory=str(DIST)))
    thread = threading.Thread(target=server.serve_forever, name=f"static-console-{port}", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def hosted_config(console: Console) -> dict[str, Any]:
    """What a static host serves: the service's own config, with the API's absolute URL as ``api_base``."""
    status, config = http_json(console.url("/console-config.json"))
    assert status == 200
    return {**config, "api_base": console.base}


def test_console_on_another_origin_signs_in_and_loads_the_wallet(console: Console, browser_factory) -> None:
    with static_console(console.frontend_port, hosted_config(console)) as origin:
        b: Browser = browser_factory(account_index=7)
        b.driver.get(origin + "/")
        b.click("signin-siwe")
        b.by_testid("nav", timeout=30)
        assert b.account.lower() in b.text("session-wallet").lower()
        b.by_testid("page-wallet")
        b.wait_for(lambda: b.text("wallet-credit").endswith("credits"), what="balances across origins")
        assert b.account.lower() in b.text("wallet-wallets").lower()
        b.wait_for(
            lambda: b.by_testid("wallet-live").get_attribute("data-state") == "live",
            what="the SSE across origins",
        )
        assert b.driver.current_url.startswith(origin)
        b.screenshot("cross-origin-wallet")


def test_console_on_an_origin_not_allowed_fails_visibly(console: Console, browser_factory) -> None:
    port = free_port()
    assert port != console.frontend_port
    with static_console(port, hosted_config(console)) as origin:
        b: Browser = browser_factory(account_index=7)
        b.driver.get(origin + "/")
        b.click("signin-siwe")
        error = b.text("signin-error")
        assert "cannot reach the API at " + console.base in error
        assert f"origin {origin} allowed by the API's CORS settings" in error
        # what the browser was told: the service refuses that origin's preflight
        req = urllib.request.Request(  # noqa: S310 — loopback URL we built
            console.url("/api/auth/siwe/nonce"),
            method="OPTIONS",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        try:
            urllib.request.urlopen(req, timeout=10)  # noqa: S310
            raise AssertionError("the preflight of an unlisted origin was accepted")
        except urllib.error.HTTPError as exc:
            assert exc.code == 403
            assert json.loads(exc.read())["error"]["code"] == "cors_origin_not_allowed"
            assert "Access-Control-Allow-Origin" not in exc.headers
        b.screenshot("cross-origin-refused")
