"""Join the benchmark sections (``bench/results/*.md``) into ``bench/RESULTS.md`` under a header that says
where and when they were measured (issue 15 §5): the machine (CPU model, cores, RAM, load average), Python
and anvil versions, the date (UTC) and the git commit (with a mark when the tree had uncommitted changes).

    python tools/bench_report.py [--expect chain_io,sender_io,...] [--started ISO-8601]

``--expect`` lists the bench scripts ``make bench`` meant to run: one without a section (script not on
disk, failed, or wrote none) is named in a "not measured" list instead of being silently absent. Sections
come in the order of ``--expect``, then any others by name. Run by ``make bench``; never edits a section.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
OUT = REPO / "bench" / "RESULTS.md"
ANVIL = REPO / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"


def _run(*cmd: str) -> str:
    try:
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ram() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError):
        pass
    return "unknown"


def cores() -> str:
    total = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else total
    return f"{usable} usable of {total}" if usable != total else str(total)


def commit() -> str:
    sha = _run("git", "rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = _run("git", "status", "--porcelain", "--untracked-files=no")
    return f"{sha} (with uncommitted changes)" if dirty else sha


def header(started: str | None) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    anvil = _run(str(ANVIL), "--version").splitlines()
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    rows = [
        ("machine", f"{cpu_model()}, {cores()} cores, {ram()} RAM, {platform.system()} {platform.release()}"),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("anvil", anvil[0] if anvil else "not found"),
        ("date", f"{started} to {now}" if started else now),
        ("git commit", commit()),
        ("load average at the end (1/5/15 min)", load),
    ]
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`tools/bench_report.py` joins `bench/results/*.md`). Every comparison",
        "runs each side on its own fresh state, interleaved, several rounds; figures are `median (min-max)`.",
        "Ratios are to the limit named in each table. Timings depend on the machine and on what else ran on",
        "it: compare rows of one table, not figures across machines.",
        "",
        "| | |",
        "| --- | --- |",
    ]
    lines += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expect", default="", help="comma-separated bench script names, in report order")
    parser.add_argument("--started", default=None, help="when the run started (shown in the header)")
    args = parser.parse_args(argv)
    expected = [n for n in args.expect.split(",") if n]
    found = {p.stem: p for p in sorted(RESULTS_DIR.glob("*.md"))} if RESULTS_DIR.is_dir() else {}
    order = [n for n in expected if n in found] + [n for n in found if n not in expected]
    missing = [n for n in expected if n not in found]
    parts = [header(args.started)]
    if missing:
        parts.append(
            "Not measured in this run (script not on disk, failed, or wrote no section): "
            + ", ".join(f"`bench/{n}.py`" for n in missing)
            + "."
        )
    parts += [found[n].read_text(encoding="utf-8").strip() for n in order]
    OUT.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(REPO)}: {len(order)} section(s), {len(missing)} not measured")
    return 0


if __name__ == "__main__":
    sys.exit(main())
