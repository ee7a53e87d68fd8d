"""Node-agent API fixtures: the app on the session runtime with the dev issuer (user tokens)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.auth.devissuer import DevIssuer
from api.routes import identity
from engine.runtime import Runtime
from tests.api.conftest import serve


@pytest.fixture
async def agent_env(eth_runtime: Runtime, tmp_path: Path) -> AsyncIterator[tuple[Any, DevIssuer]]:
    options = identity.IdentityOptions(
        env="dev",
        data_dir=tmp_path,
        chain_id=eth_runtime.chain.chain_id,
        dev_issuer=True,
        siwe_domain="agent.test",
        siwe_uri="https://agent.test",
    )
    app = create_app(eth_runtime, background=False, identity_options=options)
    async with serve(app) as client:
        yield client, DevIssuer(tmp_path)
