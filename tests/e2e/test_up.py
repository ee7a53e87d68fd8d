"""``cloudmarket up`` as a real process: dev anvil with persisted state, deploy once, restart, reset.

Runs the console entry point (``python -m api.cli``) three times on one data dir:

1. ``up``: ready, CreditToken has code, a balance is created on the chain; SIGTERM exits 0.
2. ``up`` again at once: same chain URL (the port is not lost to TIME_WAIT), same contract (manifest
   reused, not redeployed) and the balance survived (anvil --state).
3. ``up --reset``: a clean chain (the balance is gone), contracts deployed again.

And a crash: ``up`` SIGKILLed takes its anvil with it, and the next ``up`` gets the same chain URL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from eth_account import Account
from web3 import HTTPProvider, Web3

from chain.devchain import free_port

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
ONE_ETHER = 10**18


def _get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 — loopback URL we built
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


class Up:
    def __init__(self, data_dir: Path, *args: str, chain_port: int | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"up-{self.port}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDMARKET_")}
        env.update(
            {
                "CLOUDMARKET_DATA_DIR": str(data_dir),
                "CLOUDMARKET_HTTP_PORT": str(self.port),
                "CLOUDMARKET_DEV_CHAIN_PORT": str(chain_port or free_port()),
                "CLOUDMARKET_LOG_LEVEL": "WARNING",
            }
        )
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "api.cli", "up", *args],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"cloudmarket up exited with {self.proc.returncode}:\n{self.output()}")
            try:
                status, _ = _get_json(self.base + "/readyz")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"cloudmarket up not ready within {START_TIMEOUT}s:\n{self.output()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"cloudmarket up ignored SIGTERM:\n{self.output()}")
        return self.proc.returncode

    def chain_info(self) -> dict:
        status, body = _get_json(self.base + "/api/chain")
        assert status == 200
        return body


def _token_and_w3(info: dict) -> tuple[str, Web3]:
    w3 = Web3(HTTPProvider(info["rpc_url"]))
    address = info["contracts"]["CreditToken"]["address"]
    assert w3.eth.get_code(address), "CreditToken has no code at the advertised address"
    token = w3.eth.contract(address=address, abi=info["contracts"]["CreditToken"]["abi"])
    assert token.functions.decimals().call() == 6
    return address, w3


def test_up_persists_the_dev_chain_and_reset_cleans_it(tmp_path):
    data_dir = tmp_path / "data"
    marker = Account.create().address  # an address that only our transfer ever touches

    chain_port = free_port()
    first = Up(data_dir, chain_port=chain_port)
    try:
        first.wait_ready()
        info = first.chain_info()
        address, w3 = _token_and_w3(info)
        tx = w3.eth.send_transaction({"from": w3.eth.accounts[1], "to": marker, "value": ONE_ETHER})
        w3.eth.wait_for_transaction_receipt(tx)
        assert w3.eth.get_balance(marker) == ONE_ETHER
        manifest = (data_dir / "manifests" / f"{info['chain_id']}.json").read_text()
    finally:
        assert first.stop() == 0
    out = first.output()
    assert first.base in out and info["rpc_url"] in out and address in out
    assert "cloudmarket dev token --role cloud-user" in out
    assert (data_dir / "anvil-state.json").exists()

    second = Up(data_dir, chain_port=chain_port)
    try:
        second.wait_ready()
        info2 = second.chain_info()
        assert info2["rpc_url"] == info["rpc_url"] == f"http://127.0.0.1:{chain_port}"  # did not move
        address2, w3 = _token_and_w3(info2)
        assert address2 == address
        assert w3.eth.get_balance(marker) == ONE_ETHER  # anvil state survived the restart
        assert (data_dir / "manifests" / f"{info['chain_id']}.json").read_text() == manifest  # reused
    finally:
        assert second.stop() == 0

    third = Up(data_dir, "--reset", chain_port=chain_port)
    try:
        third.wait_ready()
        _, w3 = _token_and_w3(third.chain_info())
        assert w3.eth.get_balance(marker) == 0  # a clean chain
    finally:
        assert third.stop() == 0


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :][:1] not in ("Z", "X")


def test_a_killed_up_takes_its_anvil_along_and_the_next_keeps_the_url(tmp_path):
    data_dir = tmp_path / "data"
    chain_port = free_port()
    crashed = Up(data_dir, chain_port=chain_port)
    try:
        crashed.wait_ready()
        url = crashed.chain_info()["rpc_url"]
        anvil_pid = int((data_dir / "anvil.pid").read_text())
        assert _alive(anvil_pid)
        crashed.proc.send_signal(signal.SIGKILL)
        crashed.proc.wait(timeout=10)
    finally:
        crashed.stop()
    deadline = time.monotonic() + 20
    while _alive(anvil_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(anvil_pid), "anvil outlived the SIGKILLed `cloudmarket up`"

    again = Up(data_dir, chain_port=chain_port)
    try:
        again.wait_ready()
        assert again.chain_info()["rpc_url"] == url
    finally:
        assert again.stop() == 0
