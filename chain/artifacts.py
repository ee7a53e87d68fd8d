"""Compiled contract artifacts (``contracts/artifacts/<Name>.json``), loaded once per process.

The directory is ``<repo>/contracts/artifacts`` unless ``CLOUDMARKET_ARTIFACTS_DIR`` names another one.
Each file holds ``contractName``, ``abi``, ``bytecode``, ``deployedBytecode`` and ``sourceHash`` (written
by ``contracts/build.js``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from chain.errors import ArtifactError

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ARTIFACTS_DIR = REPO_ROOT / "contracts" / "artifacts"
ARTIFACTS_DIR_ENV = "CLOUDMARKET_ARTIFACTS_DIR"


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]] = field(repr=False)
    bytecode: bytes = field(repr=False)
    deployed_bytecode: bytes = field(repr=False)
    source_hash: str


def artifacts_dir() -> Path:
    env = os.environ.get(ARTIFACTS_DIR_ENV)
    return Path(env) if env else DEFAULT_ARTIFACTS_DIR


def _hex_bytes(name: str, key: str, value: object) -> bytes:
    if not isinstance(value, str):
        raise ArtifactError(name, f"{key} is not a hex string")
    try:
        return bytes.fromhex(value.removeprefix("0x"))
    except ValueError as exc:
        raise ArtifactError(name, f"{key} is not valid hex (unlinked library placeholder?)") from exc


def parse_artifact(name: str, raw: dict[str, Any]) -> Artifact:
    """Validate and convert one artifact's JSON object."""
    abi = raw.get("abi")
    if not isinstance(abi, list):
        raise ArtifactError(name, "no abi list")
    return Artifact(
        name=str(raw.get("contractName") or name),
        abi=abi,
        bytecode=_hex_bytes(name, "bytecode", raw.get("bytecode", "")),
        deployed_bytecode=_hex_bytes(name, "deployedBytecode", raw.get("deployedBytecode", "")),
        source_hash=str(raw.get("sourceHash", "")),
    )


@cache
def _load(directory: Path, name: str) -> Artifact:
    path = directory / f"{name}.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ArtifactError(name, f"{path} not found (run `make contracts`)") from exc
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArtifactError(name, f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ArtifactError(name, f"{path} does not hold a JSON object")
    return parse_artifact(name, raw)


def load_artifact(name: str) -> Artifact:
    """The artifact of contract ``name`` (cached per process and per artifacts directory)."""
    return _load(artifacts_dir(), name)


def available_artifacts() -> list[str]:
    """Names of every artifact in the artifacts directory (empty if it does not exist)."""
    directory = artifacts_dir()
    if not directory.is_dir():
        return []
    return sorted(p.stem for p in directory.glob("*.json"))
