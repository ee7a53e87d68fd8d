"""A failpoint is a real process exit with 137, only when named in CLOUDMARKET_FAILPOINTS."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from engine.failpoints import ENV_VAR

CODE = "from engine.failpoints import failpoint; failpoint('x.y'); print('survived')"


@pytest.mark.parametrize(
    ("setting", "code", "out"),
    [
        ("x.y", 137, ""),
        ("a.b, x.y", 137, ""),
        ("a.b", 0, "survived\n"),
        ("", 0, "survived\n"),
    ],
)
def test_failpoint_exits_the_process(setting: str, code: int, out: str) -> None:
    env = {**os.environ, ENV_VAR: setting}
    proc = subprocess.run(
        [sys.executable, "-c", CODE], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == out
