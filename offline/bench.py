"""`bench`: one `plan`, the whole `matrix` and a plain reference program, side by side.

Every figure is the median of `--repeat` runs, each in a fresh interpreter (what a developer
waits for), measured in the same run so that a busy machine slows all of them alike; the
ratios are what the targets are about: `plan` within 1.1x of a plain program of the
same size under the same mocks and within 200 MiB, `matrix` of every environment within 1.2x
of one `plan`. Peak memory is the child's own `ru_maxrss` from `wait4` (with its reaped
children's, for `matrix`), never the parent's running maximum over every child.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from offline.parallel import sdk_services
from offline.recorder import ROOT

PLAN_OVER_REFERENCE = 1.1
MATRIX_OVER_PLAN = 1.2
PLAN_RSS_MIB = 200.0
SUITE_SECONDS = 45.0
OK_EXIT = (0, 3)  # matrix exits 3 when environments differ in shape: still a complete run


@dataclass(frozen=True)
class Run:
    """One fresh-interpreter run of a command."""

    seconds: float
    peak_mib: float


@dataclass(frozen=True)
class Figure:
    """A command's runs; the report shows medians."""

    name: str
    runs: tuple[Run, ...]

    @property
    def seconds(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def peak_mib(self) -> float:
        return statistics.median(r.peak_mib for r in self.runs)


@dataclass(frozen=True)
class Check:
    """One target: the measured value against its limit (lower is better)."""

    what: str
    value: float
    limit: float
    unit: str

    @property
    def ok(self) -> bool:
        return self.value <= self.limit


def run_once(argv: Sequence[str], cwd: Path = ROOT) -> Run:
    """Run `argv` to completion; its wall time and peak RSS (from wait4, this child only)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode not in OK_EXIT:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {stderr.strip()}")
    return Run(seconds, usage.ru_maxrss / 1024)  # Linux reports KiB


def program_services(root: Path = ROOT) -> list[str]:
    """The pulumi_aws services the program's sources use, for the reference to import too."""
    sources = [root / "__main__.py", *sorted((root / "payment_platform").rglob("*.py"))]
    return sorted(n for n in sdk_services(sources) if not n.startswith("get_") and n.islower())


def checks(
    plan: Figure, matrix: Figure, reference: Figure, suite_seconds: float | None = None
) -> list[Check]:
    """The issue's targets as ratios of figures measured in the same run."""
    found = [
        Check(
            "plan / reference (wall)", plan.seconds / reference.seconds, PLAN_OVER_REFERENCE, "x"
        ),
        Check("plan peak RSS", plan.peak_mib, PLAN_RSS_MIB, "MiB"),
        Check("matrix / plan (wall)", matrix.seconds / plan.seconds, MATRIX_OVER_PLAN, "x"),
    ]
    if suite_seconds is not None:
        found.append(Check("test suite (wall)", suite_seconds, SUITE_SECONDS, "s"))
    return found


def report(
    figures: Sequence[Figure],
    found: Sequence[Check],
    repeat: int,
    once: Sequence[tuple[str, float]] = (),
) -> list[str]:
    """The side-by-side table (`once`: rows timed a single time), then the targets' verdicts."""
    lines = [f"{'command':<34} {'wall (s)':>9} {'peak (MiB)':>11}   median of {repeat}"]
    for figure in figures:
        spread = ", ".join(f"{r.seconds:.2f}" for r in figure.runs)
        lines.append(
            f"{figure.name:<34} {figure.seconds:>9.2f} {figure.peak_mib:>11.1f}   ({spread})"
        )
    lines.extend(f"{name:<34} {seconds:>9.2f} {'-':>11}   (once)" for name, seconds in once)
    lines.append("")
    for check in found:
        verdict = "ok" if check.ok else "OVER"
        value = f"{check.value:.2f}{check.unit}" if check.unit == "x" else f"{check.value:.1f}"
        limit = f"{check.limit:.2f}{check.unit}" if check.unit == "x" else f"{check.limit:.0f}"
        unit = "" if check.unit == "x" else f" {check.unit}"
        lines.append(f"{check.what:<26} {value:>8}{unit}  target <= {limit}{unit}  {verdict}")
    return lines


def resource_count(plan_json: Path) -> int:
    """How many resources the measured `plan` wrote, so the reference has as many."""
    return len(json.loads(plan_json.read_text())["resources"])


def suite_wall(extra: Sequence[str] = ()) -> float:
    """One wall-clock run of the test suite as `make test` runs it (failures raise)."""
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra]
    started = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - started


def bench(
    plan_env: str, envs: Sequence[str], repeat: int, suite_args: Sequence[str] | None
) -> list[str]:
    """Measure everything in one run and return the report's lines."""
    python = sys.executable
    out = ROOT / "build" / "bench-plan.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    plan_argv = [python, "-m", "offline", "plan", "--env", plan_env, "--json", str(out)]
    first = run_once(plan_argv)  # also tells the reference how many resources to make
    count = resource_count(out)
    reference_argv = [
        python,
        "-m",
        "offline.bench_reference",
        "--resources",
        str(count),
        "--services",
        ",".join(program_services()),
    ]
    env_args = [arg for env in envs for arg in ("--env", env)]
    matrix_argv = [python, "-m", "offline", "matrix", *env_args]
    # Rounds, not one command's runs in a row: a burst of load elsewhere then slows every
    # figure of a round alike instead of one figure's runs, and the ratios stay fair.
    rounds = [(first, run_once(reference_argv), run_once(matrix_argv))]
    rounds += [
        (run_once(plan_argv), run_once(reference_argv), run_once(matrix_argv))
        for _ in range(repeat - 1)
    ]
    plan, reference, matrix = (
        Figure(name, tuple(r[i] for r in rounds))
        for i, name in enumerate(
            [
                f"plan --env {plan_env}",
                f"reference ({count} resources)",
                f"matrix ({len(envs)} environments)",
            ]
        )
    )
    suite = suite_wall(suite_args) if suite_args is not None else None
    once = [] if suite is None else [(" ".join(["pytest", *(suite_args or [])]), suite)]
    lines = report([plan, reference, matrix], checks(plan, matrix, reference, suite), repeat, once)
    lines.append(f"({os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at the end)")
    return lines
