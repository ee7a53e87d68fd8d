"""Shared plumbing for the benchmarks (issue 15 §5): interleaved rounds and one markdown section per script.

Every bench script measures each side of a comparison on the SAME fresh state, interleaved (side A, side B,
limit, then again), ``ROUNDS`` times, and reports the median with the range. It writes its tables to
``bench/results/<name>.md`` with :func:`write_section`; ``tools/bench_report.py`` (``make bench``) joins the
sections into ``bench/RESULTS.md`` under a header with the machine and the date. No assertions on timings.
"""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
ROUNDS = 3


def spread(values: Sequence[float], fmt: str = "{:,.0f}") -> str:
    """``median (min-max)`` of a list of measurements, each formatted with ``fmt``."""
    if not values:
        return "n/a"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def ratio(ours: Sequence[float], limit: Sequence[float]) -> str:
    """Median of the per-round ratios ours/limit, as a percentage with its range (same-round pairs)."""
    pairs = [a / b for a, b in zip(ours, limit, strict=True) if b]
    return spread([p * 100 for p in pairs], "{:.0f} %")


async def interleaved(
    sides: dict[str, Callable[[], Awaitable[float]]], rounds: int = ROUNDS
) -> dict[str, list[float]]:
    """Run each side once per round, in turn (A, B, C, A, B, C, ...); each call returns its own figure
    (a rate or a duration) and must set up its own fresh state."""
    out: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, run in sides.items():
            out[name].append(await run())
    return out


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_section(name: str, title: str, body: str) -> Path:
    """Write (and print) this script's section of bench/RESULTS.md."""
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.md"
    text = f"## {title}\n\n{body.strip()}\n"
    path.write_text(text, encoding="utf-8")
    print(text)
    return path


def compared(
    labels: Sequence[str],
    first: Sequence[float],
    second: Sequence[float],
    fmt: str,
    ratio_fmt: str,
    *,
    invert: bool = False,
) -> list[str]:
    """A table row: the labels, both sides as ``spread``, and the per-round ratio second / first
    (first / second with ``invert``)."""
    ratios = [(x / y if invert else y / x) for x, y in zip(first, second, strict=True)]
    return [*labels, spread(first, fmt), spread(second, fmt), spread(ratios, ratio_fmt)]


async def on_both_backends(
    one: Callable[[str, str, int], Awaitable[list[list[str]]]], sizes: Sequence[int], name: str
) -> list[list[str]]:
    """``one(url, backend, size)`` for each size on a fresh SQLite file and a fresh PostgreSQL database (one
    throwaway cluster, as the tests start it); the rows of all of them."""
    import tempfile

    from tests.support.postgres import start_cluster

    rows: list[list[str]] = []
    cluster = start_cluster()
    try:
        for size in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                rows += await one(f"sqlite+aiosqlite:///{tmp}/{name}.db", "SQLite", size)
            rows += await one(cluster.createdb(f"{name}{size}"), "PostgreSQL", size)
    finally:
        cluster.stop()
    return rows
