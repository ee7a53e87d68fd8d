"""Fixtures for the notification tests: an app on the shared runtime, dev tokens, users with email."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.auth.devissuer import DevIssuer
from api.routes import identity
from engine.identity.models import User
from engine.runtime import Runtime
from tests.api.conftest import serve


@dataclass
class Caller:
    user_id: int
    headers: dict[str, str]


@dataclass
class Env:
    client: Any
    runtime: Runtime
    dev: DevIssuer

    async def user(self, role: str = "cloud-user", email: str | None = None) -> Caller:
        """A fresh user (optionally with an email address) and its bearer header."""
        headers = {
            "Authorization": f"Bearer {self.dev.mint([role], sub=f'dev|notif-{uuid.uuid4().hex[:10]}')}"
        }
        resp = await self.client.get("/api/auth/session", headers=headers)
        assert resp.status == 200, await resp.text()
        user_id = int((await resp.json())["user_id"])
        if email is not None:
            async with self.runtime.sessionmaker() as session, session.begin():
                row = await session.get(User, user_id)
                assert row is not None
                row.email = email
        return Caller(user_id, headers)


@pytest.fixture
async def env(eth_runtime: Runtime, tmp_path: Path) -> AsyncIterator[Env]:
    options = identity.IdentityOptions(env="dev", data_dir=tmp_path, chain_id=eth_runtime.chain.chain_id)
    app = create_app(eth_runtime, background=False, identity_options=options)
    async with serve(app) as client:
        yield Env(client, eth_runtime, DevIssuer(tmp_path))
