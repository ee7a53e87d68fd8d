"""The capacity-unit formula a contributed node declares (engine.alliances.services.capacity_units)."""

from __future__ import annotations

import pytest

from engine.alliances.services import capacity_units
from engine.nodes.models import Node


def _node(cpu: int, mem: int, gpus: int = 0) -> Node:
    return Node(provider_user_id=1, name="n", cpu_millicores=cpu, memory_mb=mem, gpu_count=gpus)


@pytest.mark.parametrize(
    ("cpu", "mem", "gpus", "cap", "units"),
    [
        (8_000, 32_768, 0, 1_000, 16),  # 8 vCPU + 32 GiB / 4
        (4_000, 8_192, 0, 1_000, 6),
        (999, 4_095, 0, 1_000, 1),  # nothing whole: at least 1
        (16_000, 65_536, 2, 1_000, 16 + 16 + 16),
        (64_000, 0, 0, 10, 10),  # clamped to the alliance's per-node cap
    ],
)
def test_capacity_units(cpu: int, mem: int, gpus: int, cap: int, units: int) -> None:
    assert capacity_units(_node(cpu, mem, gpus), cap) == units
