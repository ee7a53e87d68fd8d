"""The import rules of DESIGN.md, checked on the source: every import statement of every module of api,
billing, chain and engine (module level, inside functions, under ``if TYPE_CHECKING:``) is parsed with
:mod:`ast`, relative imports resolved.

Rules:

* imports point one way, ``api -> billing -> engine -> chain``: chain imports none of engine/billing/api,
  engine none of billing/api, billing not api;
* ``aiohttp.web`` only in api/ (the aiohttp *client* is fine anywhere);
* ``stripe`` only in billing/;
* no ``sqlalchemy`` / ``asyncpg`` in chain/;
* no module in api/routes/ imports ``chain`` (routes call engine commands; clients live on the context).

Each failure lists every violation as ``path:line: message``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "billing", "chain", "engine")
RANK = {"chain": 0, "engine": 1, "billing": 2, "api": 3}  # a package may import only lower or equal ranks


@dataclass(frozen=True)
class Import:
    path: Path  # relative to the root
    line: int
    module: str  # the importing module, dotted
    target: str  # the imported module, dotted (``from a import b`` gives ``a.b`` and ``a``)

    def where(self) -> str:
        return f"{self.path}:{self.line}"


def module_name(path: Path) -> str:
    parts = list(path.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def imports_of(root: Path, path: Path) -> Iterator[Import]:
    rel = path.relative_to(root)
    module = module_name(rel)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(rel))
    for node in ast.walk(tree):  # every statement, wherever it is (functions, TYPE_CHECKING blocks)
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(rel, node.lineno, module, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = (
                _resolve(module, rel.name == "__init__.py", node.level, node.module)
                if node.level
                else (node.module or "")
            )
            yield Import(rel, node.lineno, module, base)
            for alias in node.names:  # `from aiohttp import web` imports aiohttp.web
                if alias.name != "*":
                    yield Import(rel, node.lineno, module, f"{base}.{alias.name}")


def all_imports(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> list[Import]:
    found: list[Import] = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            found.extend(imports_of(root, path))
    return found


def _top(name: str) -> str:
    return name.split(".", 1)[0]


def _is(target: str, prefix: str) -> bool:
    return target == prefix or target.startswith(prefix + ".")


def direction_violations(imports: list[Import]) -> list[str]:
    out = []
    for imp in imports:
        src, dst = _top(imp.module), _top(imp.target)
        if src in RANK and dst in RANK and RANK[dst] > RANK[src]:
            out.append(f"{imp.where()}: {imp.module} imports {imp.target} ({src} must not import {dst})")
    return out


def confined_violations(imports: list[Import]) -> list[str]:
    """Third-party packages confined to one of our packages (or kept out of one)."""
    out = []
    for imp in imports:
        src = _top(imp.module)
        if _is(imp.target, "aiohttp.web") and src != "api":
            out.append(f"{imp.where()}: {imp.module} imports {imp.target} (aiohttp.web only in api/)")
        if _is(imp.target, "stripe") and src != "billing":
            out.append(f"{imp.where()}: {imp.module} imports {imp.target} (stripe only in billing/)")
        if src == "chain" and (_is(imp.target, "sqlalchemy") or _is(imp.target, "asyncpg")):
            out.append(f"{imp.where()}: {imp.module} imports {imp.target} (no database in chain/)")
    return out


def routes_violations(imports: list[Import]) -> list[str]:
    return [
        f"{imp.where()}: {imp.module} imports {imp.target} (routes call engine commands, not chain)"
        for imp in imports
        if _is(imp.module, "api.routes") and _top(imp.target) == "chain"
    ]


def _report(violations: list[str], rule: str) -> str:
    text = f"{len(violations)} import(s) break the rule: {rule}\n" + "\n".join(violations)
    print(text)
    return text


# ---- the rules on our tree ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    found = all_imports()
    assert len({imp.module for imp in found}) > 100, "the walk found too few modules: wrong root?"
    return found


def test_imports_point_one_way_api_billing_engine_chain(imports: list[Import]) -> None:
    violations = direction_violations(imports)
    assert not violations, _report(violations, "api -> billing -> engine -> chain")


def test_aiohttp_web_stripe_and_the_database_stay_in_their_packages(imports: list[Import]) -> None:
    violations = confined_violations(imports)
    assert not violations, _report(violations, "aiohttp.web in api/, stripe in billing/, no DB in chain/")


def test_routes_do_not_import_chain(imports: list[Import]) -> None:
    violations = routes_violations(imports)
    assert not violations, _report(violations, "api/routes imports no chain")


# ---- the checker itself (it must be able to fail) -------------------------------------------------------


def test_checker_finds_every_kind_of_violation_with_file_and_line(tmp_path: Path) -> None:
    files = {
        "chain/bad.py": "import sqlalchemy\n\ndef f():\n    from engine import db\n",
        "engine/__init__.py": "",
        "engine/x.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from api.keys import RUNTIME\n"
            "from aiohttp import web\nimport aiohttp\n"
        ),
        "engine/sub/__init__.py": "",
        "engine/sub/y.py": "from .. import x\nfrom ...billing import stripe_things\n",
        "billing/ok.py": "import stripe\nfrom engine import x\nfrom chain import bad\n",
        "api/routes/r.py": "from aiohttp import web\nfrom chain.contracts import EscrowClient\n",
        "api/fine.py": "import stripe\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = all_imports(tmp_path)
    assert sorted(direction_violations(found)) == [
        "chain/bad.py:4: chain.bad imports engine (chain must not import engine)",
        "chain/bad.py:4: chain.bad imports engine.db (chain must not import engine)",
        "engine/sub/y.py:2: engine.sub.y imports billing (engine must not import billing)",
        "engine/sub/y.py:2: engine.sub.y imports billing.stripe_things (engine must not import billing)",
        "engine/x.py:3: engine.x imports api.keys (engine must not import api)",
        "engine/x.py:3: engine.x imports api.keys.RUNTIME (engine must not import api)",
    ]
    assert sorted(confined_violations(found)) == [
        "api/fine.py:1: api.fine imports stripe (stripe only in billing/)",
        "chain/bad.py:1: chain.bad imports sqlalchemy (no database in chain/)",
        "engine/x.py:4: engine.x imports aiohttp.web (aiohttp.web only in api/)",
    ]
    assert routes_violations(found) == [
        "api/routes/r.py:2: api.routes.r imports chain.contracts (routes call engine commands, not chain)",
        "api/routes/r.py:2: api.routes.r imports chain.contracts.EscrowClient "
        "(routes call engine commands, not chain)",
    ]
    assert "engine.x" in {imp.target for imp in found if imp.module == "engine.sub.y"}  # `from .. import x`
