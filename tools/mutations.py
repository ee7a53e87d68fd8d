#!/usr/bin/env python3
"""Mutation check of the issue 10 rules: every rule has a forge test that fails when the rule is switched off.

Each mutation below is a small textual edit to one contract source that switches ONE rule off (typically the
old, pre-issue-10 behaviour) and names the forge tests that must then fail. For each mutation the tool copies
the contracts it needs (the named tests' files and everything they import) to a temporary directory, applies
the edit and runs forge on the named tests only:

- killed:   at least one named test failed (the rule is guarded);
- survived: every named test passed (the rule is NOT guarded: the tool exits 1);
- error:    the edit did not apply exactly once, the mutant did not compile, or a named test was not run
            (the table is stale: exits 1).

Before any mutant, the named tests must pass on the unmodified sources (baseline). Mutants run in parallel
workers (`--jobs`, default 2), each in its own copy. Standard library only; no network (forge --offline).

    python3 tools/mutations.py                 # all mutations, table on stdout
    python3 tools/mutations.py --list          # names, rules and tests
    python3 tools/mutations.py -k quote -j 1   # the mutations whose name contains "quote", one worker
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONTRACTS = REPO / "contracts"
FORGE = REPO / "node_modules" / "@foundry-rs" / "forge-linux-amd64" / "bin" / "forge"

ESCROW = "src/DeploymentEscrow.sol"
REGISTRY = "src/ProviderRegistry.sol"
ISSUE10 = "test/Issue10.t.sol:Issue10Test"
ESCROW_T = "test/DeploymentEscrow.t.sol:DeploymentEscrowTest"
REGISTRY_T = "test/ProviderRegistry.t.sol:ProviderRegistryTest"


@dataclass(frozen=True)
class Mutation:
    """One rule switched off: `edits` are (old, new) replacements in `file`; each `old` must occur once."""

    name: str
    rule: str
    file: str
    edits: tuple[tuple[str, str], ...]
    # "path:Contract.test_name" (the test function's name, without parentheses)
    tests: tuple[str, ...]


def _t(suite: str, *names: str) -> tuple[str, ...]:
    return tuple(f"{suite}.{n}" for n in names)


MUTATIONS: tuple[Mutation, ...] = (
    # ---- 1. quoted price -----------------------------------------------------------------------------------
    Mutation(
        "quote-any-signer",
        "quote check: only a QUOTE_SIGNER_ROLE key signs quotes",
        ESCROW,
        (
            (
                "if (err != ECDSA.RecoverError.NoError || !hasRole(QUOTE_SIGNER_ROLE, signer)) revert",
                "if (err != ECDSA.RecoverError.NoError) revert",
            ),
        ),
        _t(ISSUE10, "test_Quote_EditedTermsRevert", "test_Quote_MinterOrAnyoneElseCannotSign"),
    ),
    Mutation(
        "quote-not-checked-by-open",
        "quote check: open verifies the quote",
        ESCROW,
        (
            (
                "_checkQuote(msg.sender, nodeId, ratePerSecond, specHash, quote);\n        return _open(",
                "return _open(",
            ),
        ),
        _t(ISSUE10, "test_Quote_EditedTermsRevert"),
    ),
    Mutation(
        "quote-expiry-ignored",
        "quote expiry (inclusive)",
        ESCROW,
        (("if (block.timestamp > quote.expiry) revert QuoteExpired(quote.expiry);", ""),),
        _t(ISSUE10, "test_Quote_RevertsWithCustomErrors"),
    ),
    # ---- 2. rolling limits ---------------------------------------------------------------------------------
    Mutation(
        "maintenance-calendar-month",
        "maintenance windows bounded over ANY 30-day span (not per calendar month)",
        REGISTRY,
        (
            (
                "if (other != 0 && other + _SPAN > start && start + _SPAN > other) ++near;",
                "if (other != 0 && other / _SPAN == start / _SPAN) ++near;",
            ),
        ),
        _t(ISSUE10, "test_Maintenance_BoundedOverAny30DaySpan", "testFuzz_Maintenance_NoSpanExceedsCap"),
    ),
    Mutation(
        "maintenance-cancel-refunds",
        "cancelling a window refunds no quota",
        REGISTRY,
        (
            (
                "n.maintenanceStart = 0;\n        n.maintenanceEnd = 0;\n        emit MaintenanceCancelled",
                "_recentStarts[nodeId] >>= 32;\n"
                "        n.maintenanceStart = 0;\n        n.maintenanceEnd = 0;\n"
                "        emit MaintenanceCancelled",
            ),
        ),
        _t(ISSUE10, "test_Maintenance_BoundedOverAny30DaySpan")
        + _t(REGISTRY_T, "test_MaintenanceWindowRules"),
    ),
    Mutation(
        "autotopup-refill-full-day",
        "auto top-up: rolling bucket refills maxPerDay/2 per day",
        ESCROW,
        (
            (
                "uint256 refill = (maxPerDay * (block.timestamp - updatedAt)) / 2 days;",
                "uint256 refill = (maxPerDay * (block.timestamp - updatedAt)) / 1 days;",
            ),
        ),
        _t(ISSUE10, "test_AutoTopUp_NoTwoDaysAcrossMidnight")
        + _t(ESCROW_T, "test_AutoTopUpWithinRollingBucket"),
    ),
    Mutation(
        "autotopup-full-bucket",
        "auto top-up: rolling bucket holds maxPerDay/2",
        ESCROW,
        (("uint256 capacity = uint256(a.maxPerDay) / 2;", "uint256 capacity = uint256(a.maxPerDay);"),),
        _t(ISSUE10, "test_AutoTopUp_NoTwoDaysAcrossMidnight")
        + _t(ESCROW_T, "test_AutoTopUpWithinRollingBucket"),
    ),
    # ---- 3. stops ------------------------------------------------------------------------------------------
    Mutation(
        "settle-ignores-stop",
        "accrual stops when the node stops (settle / close)",
        ESCROW,
        (
            (
                "if (settledAt <= (feeWord >> _STOP_SHIFT) & _MASK32) "
                "until = _accrualTo(word, settledAt, feeWord);",
                "",
            ),
        ),
        _t(
            ISSUE10,
            "test_Stop_NodeRemoved",
            "test_Stop_ProviderSuspended",
            "test_Stop_ProviderExiting",
            "test_Stop_SettleEmitsLeaseStoppedAndTopUpRefused",
        ),
    ),
    Mutation(
        "settlemany-ignores-stop",
        "accrual stops when the node stops (settleMany)",
        ESCROW,
        (("if iszero(gt(due, lastStop)) {", "if 0 {"),),
        _t(ISSUE10, "test_Stop_OtherNodesKeepAccruing", "test_Stop_ReapprovalKeepsOldLeasesStopped"),
    ),
    Mutation(
        "removal-not-reported",
        "accrual stops when the node stops (registry tells the escrow on removal)",
        REGISTRY,
        (("emit NodeRemoved(nodeId);\n        _notifyEscrow();", "emit NodeRemoved(nodeId);"),),
        _t(ISSUE10, "test_Stop_NodeRemoved"),
    ),
    Mutation(
        "collateral-free-with-open-leases",
        "collateral locked while leases are open",
        REGISTRY,
        (("if (p.busyNodes != 0) revert OpenLeases(msg.sender, p.busyNodes);", ""),),
        _t(ISSUE10, "test_Stop_NoCollateralWithdrawalWithOpenLeasesOrClaims"),
    ),
    Mutation(
        "collateral-free-with-open-claims",
        "collateral locked while SLA claims are open",
        REGISTRY,
        (("if (p.openClaims != 0) revert OpenClaims(msg.sender, p.openClaims);", ""),),
        _t(ISSUE10, "test_Stop_NoCollateralWithdrawalWithOpenLeasesOrClaims"),
    ),
    # ---- 4. forward-only admin changes, pause --------------------------------------------------------------
    Mutation(
        "fee-read-at-settlement",
        "fee fixed per lease at open",
        ESCROW,
        (
            (
                "fee = (due * ((word >> _FEE_SHIFT) & _MASK16)) / _BPS;",
                "fee = (due * _openState.feeBps) / _BPS;",
            ),
        ),
        _t(ISSUE10, "test_Fee_ChangeAppliesOnlyToNewLeases"),
    ),
    Mutation(
        "exit-cooldown-read-at-withdrawal",
        "exit time fixed at request",
        REGISTRY,
        (
            ("p.exitAvailableAt = uint32(availableAt);", "p.exitAvailableAt = uint32(block.timestamp);"),
            (
                "uint256 availableAt = p.exitAvailableAt;",
                "uint256 availableAt = p.exitAvailableAt + _config.exitCooldown;",
            ),
        ),
        _t(ISSUE10, "test_Exit_AvailabilityFixedAtRequest"),
    ),
    Mutation(
        "pause-skips-open",
        "pause stops opens",
        ESCROW,
        (("if (state.paused) revert EnforcedPause();", ""),),
        _t(ISSUE10, "test_Pause_StopsOpensAndTopUpsOnly"),
    ),
    Mutation(
        "pause-skips-topup",
        "pause stops top-ups",
        ESCROW,
        (("if ((feeWord >> _PAUSED_SHIFT) & 1 != 0) revert EnforcedPause();", ""),),
        _t(ISSUE10, "test_Pause_StopsOpensAndTopUpsOnly"),
    ),
    Mutation(
        "pause-blocks-close",
        "pause never stops closes and refunds",
        ESCROW,
        (
            (
                "uint256 feeWord = _feeWord;\n"
                "        (uint256 newWord, uint256 due, uint256 fee) = _settlement(leaseId, word, feeWord);\n"
                "        if (due != 0) {\n            // No keeper tip on close",
                "if (_openState.paused) revert EnforcedPause();\n        uint256 feeWord = _feeWord;\n"
                "        (uint256 newWord, uint256 due, uint256 fee) = _settlement(leaseId, word, feeWord);\n"
                "        if (due != 0) {\n            // No keeper tip on close",
            ),
        ),
        _t(ISSUE10, "test_Pause_StopsOpensAndTopUpsOnly"),
    ),
    Mutation(
        "pause-blocks-withdraw",
        "pause never stops withdrawals",
        ESCROW,
        (
            (
                "if (msg.sender != payee) revert NotPayee(nodeId, msg.sender, payee);",
                "if (msg.sender != payee) revert NotPayee(nodeId, msg.sender, payee);\n"
                "        if (_openState.paused) revert EnforcedPause();",
            ),
        ),
        _t(ISSUE10, "test_Pause_StopsOpensAndTopUpsOnly"),
    ),
    # ---- 5. oracle, maxTip, rounding -----------------------------------------------------------------------
    Mutation(
        "oracle-uncapped-gas",
        "discount oracle: gas cap",
        ESCROW,
        (("ok := staticcall(_DISCOUNT_GAS, oracle,", "ok := staticcall(gas(), oracle,"),),
        _t(ISSUE10, "test_Oracle_FailureMeansNoDiscount", "test_Oracle_GasCapped"),
    ),
    Mutation(
        "oracle-failure-reverts",
        "discount oracle: a failing call means no discount (try/catch)",
        ESCROW,
        (
            (
                "if (gasleft() < _DISCOUNT_GAS / 63) revert DiscountOracleStarved();\n            return 0;",
                "revert DiscountOracleStarved();",
            ),
        ),
        _t(ISSUE10, "test_Oracle_FailureMeansNoDiscount"),
    ),
    Mutation(
        "oracle-short-return-accepted",
        "discount oracle: short return data means no discount",
        ESCROW,
        (("if (size < 32) return 0;", ""),),
        _t(ISSUE10, "test_Oracle_FailureMeansNoDiscount"),
    ),
    Mutation(
        "oracle-starvation-ignored",
        "discount oracle: a call starved by the caller reverts (no stripped discount)",
        ESCROW,
        (("if (gasleft() < _DISCOUNT_GAS / 63) revert DiscountOracleStarved();", ""),),
        _t(ISSUE10, "test_Oracle_StarvedCallReverts", "test_Oracle_StarvedCallRevertsWithItsError"),
    ),
    Mutation(
        "maxtip-per-lease",
        "maxTip caps a whole settleMany call",
        ESCROW,
        (
            (
                "uint256 maxTip = (feeWord >> _MAX_TIP_SHIFT) & _MASK64;\n        if (tips > maxTip) {",
                "uint256 maxTip = ((feeWord >> _MAX_TIP_SHIFT) & _MASK64) * leaseIds.length;\n"
                "        if (tips > maxTip) {",
            ),
        ),
        _t(ISSUE10, "test_MaxTip_PerCall"),
    ),
    Mutation(
        "fee-rounded-up",
        "fee rounded down, in the node's favour (settle / close)",
        ESCROW,
        (
            (
                "fee = (due * ((word >> _FEE_SHIFT) & _MASK16)) / _BPS;",
                "fee = (due * ((word >> _FEE_SHIFT) & _MASK16) + _BPS - 1) / _BPS;",
            ),
        ),
        _t(ISSUE10, "test_Rounding_NodeAlwaysGetsItsShare") + _t(ESCROW_T, "testFuzz_FeeRoundsDown"),
    ),
    Mutation(
        "settlemany-fee-rounded-up",
        "fee rounded down, in the node's favour (settleMany)",
        ESCROW,
        (
            (
                "slot := div(mul(due, and(shr(192, word), 0xffff)), 10000)",
                "slot := div(add(mul(due, and(shr(192, word), 0xffff)), 9999), 10000)",
            ),
        ),
        _t(ESCROW_T, "testFuzz_SettleManyEqualsSettleEach"),
    ),
)


@dataclass
class Result:
    mutation: Mutation
    status: str  # killed | survived | error
    failed: list[str] = field(default_factory=list)
    detail: str = ""
    seconds: float = 0.0


_IMPORT = re.compile(r'^\s*import\s+(?:[^"\']*?\bfrom\s+)?["\']([^"\']+)["\']', re.MULTILINE)


def _closure(test_files: set[str]) -> set[str]:
    """The contracts/-relative paths of `test_files` and every file under contracts/ they import."""
    seen: set[str] = set()
    todo = list(test_files)
    while todo:
        rel = todo.pop()
        if rel in seen:
            continue
        seen.add(rel)
        path = CONTRACTS / rel
        for imp in _IMPORT.findall(path.read_text()):
            if not imp.startswith("."):
                continue  # remapped (node_modules): read in place
            target = (path.parent / imp).resolve()
            if CONTRACTS.resolve() in target.parents:
                todo.append(str(target.relative_to(CONTRACTS.resolve())))
    return seen


def _prepare_workdir(files: set[str]) -> Path:
    """A temp dir with contracts/<files> + foundry.toml and links to node_modules and tools (as foundry.toml
    expects them next to contracts/)."""
    root = Path(tempfile.mkdtemp(prefix="mutations-"))
    dst = root / "contracts"
    for rel in [*sorted(files), "foundry.toml"]:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(CONTRACTS / rel, dst / rel)
    (root / "node_modules").symlink_to(REPO / "node_modules")
    (root / "tools").symlink_to(REPO / "tools")
    return root


def _run_forge(workdir: Path, tests: tuple[str, ...], optimizer: bool) -> tuple[dict[str, str] | None, str]:
    """Runs the named tests in `workdir`; returns ({"path:Contract.test": status}, error text)."""
    contracts = sorted({t.rsplit(".", 1)[0].split(":", 1)[1] for t in tests})
    names = sorted({t.rsplit(".", 1)[1] for t in tests})
    cmd = [
        str(FORGE),
        "test",
        "--offline",
        "--json",
        "--match-contract",
        "^(" + "|".join(contracts) + ")$",
        "--match-test",
        r"^(" + "|".join(names) + r")\(",
    ]
    env = dict(os.environ)
    if not optimizer:
        # Same semantics, about a third less compile time per mutant; the baseline runs the same way.
        env["FOUNDRY_OPTIMIZER"] = "false"
    proc = subprocess.run(
        cmd, cwd=workdir / "contracts", capture_output=True, text=True, check=False, env=env
    )
    try:
        start = proc.stdout.index("{")
        data = json.loads(proc.stdout[start:])
    except ValueError:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-12:]
        return None, "\n".join(tail)
    statuses: dict[str, str] = {}
    for suite, body in data.items():
        for test, res in body.get("test_results", {}).items():
            statuses[f"{suite}.{test.split('(', 1)[0]}"] = res.get("status", "?")
    return statuses, ""


def _apply(workdir: Path, m: Mutation) -> str:
    """Applies `m` in `workdir`; returns an error text ("" when applied)."""
    path = workdir / "contracts" / m.file
    text = path.read_text()
    for old, new in m.edits:
        count = text.count(old)
        if count != 1:
            return f"edit applies {count} times (must be once): {old[:70]!r}"
        text = text.replace(old, new)
    path.write_text(text)
    return ""


def _restore(workdir: Path, m: Mutation) -> None:
    shutil.copy2(CONTRACTS / m.file, workdir / "contracts" / m.file)


def _judge(m: Mutation, statuses: dict[str, str] | None, error: str) -> Result:
    if statuses is None:
        return Result(m, "error", detail="did not compile or run:\n" + error)
    missing = [t for t in m.tests if t not in statuses]
    if missing:
        return Result(m, "error", detail="named tests not run: " + ", ".join(missing))
    failed = [t for t in m.tests if statuses[t] != "Success"]
    return Result(m, "killed" if failed else "survived", failed=failed)


def _worker(
    workdir: Path, jobs: queue.Queue[Mutation], results: list[Result], lock: threading.Lock, optimizer: bool
) -> None:
    while True:
        try:
            m = jobs.get_nowait()
        except queue.Empty:
            return
        t0 = time.monotonic()
        error = _apply(workdir, m)
        if error:
            result = Result(m, "error", detail=error)
        else:
            statuses, run_error = _run_forge(workdir, m.tests, optimizer)
            result = _judge(m, statuses, run_error)
        _restore(workdir, m)
        result.seconds = time.monotonic() - t0
        with lock:
            results.append(result)
            print(f"  {result.status:8} {m.name} ({result.seconds:.0f} s)", file=sys.stderr, flush=True)


def _short(test: str) -> str:
    suite, name = test.rsplit(".", 1)
    return f"{suite.split(':', 1)[1]}.{name}"


def _table(results: list[Result]) -> str:
    order = {m.name: i for i, m in enumerate(MUTATIONS)}
    lines = [
        "| mutation | rule switched off | tests that must fail | result |",
        "| --- | --- | --- | --- |",
    ]
    for r in sorted(results, key=lambda r: order[r.mutation.name]):
        tests = ", ".join(f"`{_short(t)}`" for t in r.mutation.tests)
        outcome = r.status
        if r.status == "killed":
            outcome = f"killed ({len(r.failed)}/{len(r.mutation.tests)} fail)"
        lines.append(f"| `{r.mutation.name}` | {r.mutation.rule} | {tests} | {outcome} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-j", "--jobs", type=int, default=2, help="parallel workers (default 2)")
    parser.add_argument("-k", "--only", default="", help="only mutations whose name contains this")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories")
    parser.add_argument(
        "--optimizer",
        action="store_true",
        help="compile with the optimizer (default: off, same semantics, faster)",
    )
    args = parser.parse_args(argv)

    selected = [m for m in MUTATIONS if args.only in m.name]
    if args.list:
        for m in selected:
            print(f"{m.name}: {m.rule} [{m.file}]\n    " + "\n    ".join(m.tests))
        return 0
    if not selected:
        print(f"no mutation matches {args.only!r}", file=sys.stderr)
        return 2
    if not FORGE.exists():
        print(f"forge not found at {FORGE} (run `npm ci`)", file=sys.stderr)
        return 2

    t0 = time.monotonic()
    test_files = {t.split(":", 1)[0] for m in selected for t in m.tests}
    files = _closure(test_files)
    missing_sources = {m.file for m in selected} - files
    if missing_sources:
        print(f"mutated sources not imported by the named tests: {sorted(missing_sources)}", file=sys.stderr)
        return 2
    all_tests = tuple(sorted({t for m in selected for t in m.tests}))
    workers = max(1, min(args.jobs, len(selected)))
    workdirs = [_prepare_workdir(files) for _ in range(workers)]
    try:
        # Baseline: every named test passes on the unmodified sources (this also warms each worker's cache).
        print(f"baseline: {len(all_tests)} tests in {workers} copies ...", file=sys.stderr, flush=True)
        baselines: list[tuple[dict[str, str] | None, str]] = [(None, "")] * workers

        def _baseline(i: int) -> None:
            baselines[i] = _run_forge(workdirs[i], all_tests, args.optimizer)

        threads = [threading.Thread(target=_baseline, args=(i,)) for i in range(workers)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        statuses, error = baselines[0]
        if statuses is None:
            print("baseline did not compile or run:\n" + error, file=sys.stderr)
            return 1
        bad = [f"{t}: {statuses.get(t, 'not run')}" for t in all_tests if statuses.get(t) != "Success"]
        if bad:
            print("baseline: the named tests must pass on the unmodified sources:", file=sys.stderr)
            print("  " + "\n  ".join(bad), file=sys.stderr)
            return 1
        took = time.monotonic() - t0
        print(f"baseline ok ({took:.0f} s); {len(selected)} mutants:", file=sys.stderr, flush=True)

        jobs: queue.Queue[Mutation] = queue.Queue()
        for m in selected:
            jobs.put(m)
        results: list[Result] = []
        lock = threading.Lock()
        threads = [
            threading.Thread(target=_worker, args=(wd, jobs, results, lock, args.optimizer))
            for wd in workdirs
        ]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        if not args.keep:
            for wd in workdirs:
                shutil.rmtree(wd, ignore_errors=True)

    print(_table(results))
    for r in results:
        if r.status == "error":
            print(f"\n{r.mutation.name}: {r.detail}", file=sys.stderr)
    counts = {s: sum(r.status == s for r in results) for s in ("killed", "survived", "error")}
    elapsed = time.monotonic() - t0
    print(
        f"\n{counts['killed']} killed, {counts['survived']} survived, {counts['error']} errors "
        f"in {elapsed:.0f} s ({workers} workers)",
        file=sys.stderr,
    )
    return 0 if counts["survived"] == 0 and counts["error"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
