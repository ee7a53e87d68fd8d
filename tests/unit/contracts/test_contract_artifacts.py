"""Committed contract artifacts: fresh against the sources, and `build.js --check` notices when they are not.

Runs the real build script (solc-js from node_modules). Without node the tests skip locally and fail in CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
BUILD_JS = REPO_ROOT / "contracts" / "build.js"
ARTIFACTS_DIR = REPO_ROOT / "contracts" / "artifacts"
# The contracts this suite knows; later contracts add their own artifacts (and may extend this set).
EXPECTED_CONTRACTS = {"CreditToken", "Multicall", "ProviderRegistry", "DeploymentEscrow"}
ARTIFACT_KEYS = [
    "contractName",
    "sourceName",
    "abi",
    "bytecode",
    "deployedBytecode",
    "compiler",
    "sourceHash",
]


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is required in CI to check contract artifacts")
        pytest.skip("node not installed")
    if not (REPO_ROOT / "node_modules" / "solc").is_dir():
        if os.environ.get("CI"):
            pytest.fail("node_modules/solc is missing in CI (run `npm ci`)")
        pytest.skip("node_modules not installed")
    return node


def _check(artifacts_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    args = [_node(), str(BUILD_JS), "--check"]
    if artifacts_dir is not None:
        args += ["--artifacts-dir", str(artifacts_dir)]
    return subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=110, check=False)


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ARTIFACTS_DIR / f"{name}.json").read_text())
    return data


def _abi_entry(abi: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [e for e in abi if e.get("type") == kind and e.get("name") == name]
    assert len(matches) == 1, f"{kind} {name} not found exactly once in the ABI"
    return matches[0]


def test_committed_artifacts_are_fresh() -> None:
    if os.environ.get("CLOUDMARKET_ARTIFACTS_CHECKED") == "1":
        # `make test` ran this very command (make contracts-check) moments before pytest: one compile
        pytest.skip("checked by `make contracts-check` in this `make test` run")
    result = _check()
    assert result.returncode == 0, result.stderr
    assert "are fresh" in result.stdout


def test_check_names_stale_missing_and_extra_artifacts(tmp_path: Path) -> None:
    """One compile (solc-js, ~13 s on 2 cores) for the three ways a directory can be out of date."""
    for file in ARTIFACTS_DIR.glob("*.json"):
        shutil.copy(file, tmp_path / file.name)
    target = tmp_path / "CreditToken.json"
    data = json.loads(target.read_text())
    code: str = data["bytecode"]
    last = code[-1]
    data["bytecode"] = code[:-1] + ("0" if last != "0" else "1")
    target.write_text(json.dumps(data, indent=2) + "\n")
    (tmp_path / "Multicall.json").unlink()
    (tmp_path / "Leftover.json").write_text("{}\n")

    result = _check(tmp_path)

    assert result.returncode != 0
    assert "stale artifact CreditToken.json" in result.stderr
    assert "in: bytecode\n" in result.stderr
    assert "missing artifact Multicall.json" in result.stderr
    assert "extra artifact Leftover.json" in result.stderr
    assert "ProviderRegistry" not in result.stderr  # untouched: not named


def test_artifact_files_include_first_contracts() -> None:
    assert EXPECTED_CONTRACTS <= {p.stem for p in ARTIFACTS_DIR.glob("*.json")}


@pytest.mark.parametrize("name", sorted(EXPECTED_CONTRACTS))
def test_artifact_shape(name: str) -> None:
    data = _load(name)
    assert list(data) == ARTIFACT_KEYS
    assert data["contractName"] == name
    assert data["sourceName"] == f"src/{name}.sol"
    assert re.fullmatch(r"0x(?:[0-9a-f]{2})+", data["bytecode"])
    assert re.fullmatch(r"0x(?:[0-9a-f]{2})+", data["deployedBytecode"])
    assert re.fullmatch(r"[0-9a-f]{64}", data["sourceHash"])
    assert data["compiler"]["version"].startswith("0.8.30+commit.")
    assert data["compiler"]["settings"] == {
        "evmVersion": "cancun",
        "optimizer": {"enabled": True, "runs": 200},
        "viaIR": False,
    }
    text = (ARTIFACTS_DIR / f"{name}.json").read_text()
    assert text == json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def test_artifacts_share_one_source_hash() -> None:
    hashes = {json.loads(p.read_text())["sourceHash"] for p in ARTIFACTS_DIR.glob("*.json")}
    assert len(hashes) == 1


def test_credit_token_abi_has_custom_errors_and_event() -> None:
    abi = _load("CreditToken")["abi"]
    ref_used = _abi_entry(abi, "error", "RefAlreadyUsed")
    assert [(i["name"], i["type"]) for i in ref_used["inputs"]] == [("ref", "bytes32")]
    assert _abi_entry(abi, "error", "ZeroRef")["inputs"] == []
    assert _abi_entry(abi, "error", "ZeroAmount")["inputs"] == []
    _abi_entry(abi, "error", "ERC2612ExpiredSignature")
    _abi_entry(abi, "error", "AccessControlUnauthorizedAccount")
    minted = _abi_entry(abi, "event", "CreditMinted")
    assert [(i["name"], i["type"], i["indexed"]) for i in minted["inputs"]] == [
        ("to", "address", True),
        ("amount", "uint256", False),
        ("ref", "bytes32", True),
    ]
    mint = _abi_entry(abi, "function", "mint")
    assert [i["type"] for i in mint["inputs"]] == ["address", "uint256", "bytes32"]
    for fn in ("permit", "refUsed", "burn", "MINTER_ROLE", "grantRole", "decimals"):
        _abi_entry(abi, "function", fn)


def test_multicall_abi() -> None:
    abi = _load("Multicall")["abi"]
    aggregate = _abi_entry(abi, "function", "aggregate")
    assert aggregate["stateMutability"] == "view"
    assert aggregate["inputs"][0]["type"] == "tuple[]"
    assert [c["type"] for c in aggregate["inputs"][0]["components"]] == ["address", "bytes"]
    assert [c["type"] for c in aggregate["outputs"][0]["components"]] == ["bool", "bytes"]
    _abi_entry(abi, "function", "getEthBalances")
    _abi_entry(abi, "function", "getBlock")
