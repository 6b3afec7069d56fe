"""What every benchmark shares: the figure it reports, medians with spread, small helpers.

A ``Figure`` is one row of the table: our number, the baseline number measured in the same
run, and the ratio between them (these machines are noisy: the ratio counts, an absolute
figure alone does not). ``higher_is_better`` says which way the ratio reads.
"""

from __future__ import annotations

import socket
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run from a checkout: `python bench/x.py`


@dataclass(frozen=True)
class Stat:
    """Median of several runs, with the spread (min and max) and the run count."""

    median: float
    low: float
    high: float
    runs: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stat:
        if not samples:
            raise ValueError("no samples")
        return cls(statistics.median(samples), min(samples), max(samples), len(samples))

    def show(self, fmt: str = "{:,.0f}") -> str:
        if self.runs == 1:
            return fmt.format(self.median)
        return f"{fmt.format(self.median)} ({fmt.format(self.low)}-{fmt.format(self.high)})"


@dataclass(frozen=True)
class Figure:
    """One row of the results table."""

    benchmark: str
    metric: str  # what the figure is, with its unit: "tasks/s", "p50 commit ms"
    value: Stat | None
    baseline_name: str = ""
    baseline: Stat | None = None
    target: str = ""  # as the issue states it, e.g. ">= 20,000 tasks/s", "ratio >= 0.33"
    target_met: bool | None = None  # informational only: benchmarks never fail on a number
    higher_is_better: bool = True
    fmt: str = "{:,.0f}"
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.value is None or self.baseline is None or not self.baseline.median:
            return None
        return self.value.median / self.baseline.median

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["ratio"] = self.ratio
        del doc["fmt"]
        return doc


def skipped(benchmark: str, reason: str) -> Figure:
    """A row that says why a benchmark did not run (missing tool, lab not ready...)."""
    return Figure(benchmark, "skipped", None, note=reason)


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_until(what: str, check: Callable[[], bool], timeout: float, step: float = 0.02) -> float:
    """Poll ``check`` until true; returns the time it took, raises TimeoutError otherwise."""
    started = time.perf_counter()
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if check():
            return time.perf_counter() - started
        time.sleep(step)
    raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc/<pid>/status (VmRSS, in KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def disk_kib(path: Path) -> int:
    """Bytes allocated under ``path`` (like ``du -sk``), in KiB."""
    total = 0
    for p in [path, *path.rglob("*")]:
        try:
            st = p.lstat()
        except FileNotFoundError:
            continue
        total += st.st_blocks * 512
    return total // 1024


def print_figures(figures: Sequence[Figure]) -> None:
    """The table: benchmark, figure, baseline, ratio, target."""
    rows = [("benchmark", "figure", "baseline", "ratio", "target")]
    for f in figures:
        if f.value is None:
            rows.append((f.benchmark, f"skipped: {f.note}", "", "", f.target))
            continue
        figure = f"{f.value.show(f.fmt)} {f.metric}"
        base = f"{f.baseline.show(f.fmt)} ({f.baseline_name})" if f.baseline is not None else ""
        ratio = f"{f.ratio:.2f}" if f.ratio is not None else ""
        met = {True: " (met)", False: " (missed)", None: ""}[f.target_met]
        rows.append((f.benchmark, figure, base, ratio, f"{f.target}{met}"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    notes = [f for f in figures if f.note and f.value is not None]
    if notes:
        print()
    for f in notes:
        print(f"note ({f.benchmark}, {f.metric}): {f.note}")
    sys.stdout.flush()
