"""Helpers shared by the benchmark scripts in scripts/bench/.

- run_measured: run a command in a fresh process, measure its wall time, CPU time and the
  peak resident memory of its whole process tree;
- machine_info / package_versions: what the figures were measured on;
- markdown_table, fmt_* : formatting;
- update_doc_section: replace one '## ' section of docs/benchmarks.md, keeping the others.

Needs psutil (the ``bench`` extra); everything else is standard library.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

try:
    import psutil
except ImportError:  # pragma: no cover - depends on the environment
    sys.exit("the benchmarks need psutil: pip install psutil (or pip install -e '.[bench]')")

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS_FILE = REPO_ROOT / "docs" / "benchmarks.md"
DOCS_INTRO = """\
# Benchmarks

Reproducible measurements of the service against the usual tools, each produced by a
script in `scripts/bench/` on synthetic data from `scripts/make_sample_data.py --formats
bench`. Every section says the exact command, the date and the machine; re-run the command
to refresh it (`--write-docs` rewrites only that script's section).
"""

#: How often the process tree's memory is sampled (seconds).
POLL_SECONDS = 0.05


@dataclass
class Measurement:
    """One run of one command."""

    command: list[str]
    wall_s: float
    #: Peak RSS of the process tree (bytes): the largest sum, over the samples, of each live
    #: member's own high-water mark (VmHWM), so spikes between samples are not missed. For
    #: one process that is exactly its peak (up to the last sample before exit). The
    #: kernel's ru_maxrss is not used: for a freshly exec'd child it can report the
    #: parent's size (the pre-exec copy of the parent's memory counts).
    peak_rss: int
    #: User + system CPU seconds of the process and its waited-for descendants.
    cpu_s: float
    returncode: int
    stdout: str
    stderr: str

    def check(self, what: str) -> None:
        """Exit loudly, with the command's output tail, if it failed."""
        if self.returncode != 0:
            tail = "\n".join((self.stdout + "\n" + self.stderr).strip().splitlines()[-30:])
            sys.exit(
                f"FAILED: {what} exited with {self.returncode}\n"
                f"  command: {shlex.join(self.command)}\n{tail}"
            )


#: The process tree is re-listed every this many samples (listing scans /proc, reading
#: RSS of known processes is cheap), so the sampler itself stays well under 1 % of a core.
RESCAN_EVERY = 10


def _tree(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return [proc]


def _hwm(proc: psutil.Process) -> int:
    """The process's peak RSS so far (VmHWM, Linux), else its current RSS."""
    try:
        with open(f"/proc/{proc.pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return proc.memory_info().rss


def _peak_sum(members: Iterable[psutil.Process]) -> int:
    """Summed peak RSS of the processes (0 for ones that vanished meanwhile)."""
    total = 0
    for member in members:
        with contextlib.suppress(psutil.Error):
            total += _hwm(member)
    return total


def run_measured(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    log_dir: Path | None = None,
) -> Measurement:
    """Run ``command`` in a fresh process and measure it.

    Wall time runs from the spawn to the exit. Peak memory is sampled every POLL_SECONDS
    over the whole process tree; the child is reaped with wait4 so its CPU times come back
    too. Output goes to files (no
    pipe to fill up), read back at the end.
    """
    log_dir = log_dir or Path(os.environ.get("TMPDIR", "/tmp"))
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = f"{os.getpid()}-{time.monotonic_ns()}"
    out_path, err_path = log_dir / f"{stamp}.out", log_dir / f"{stamp}.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        popen = subprocess.Popen(
            list(command), stdout=out, stderr=err, stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None, cwd=cwd,
        )  # fmt: skip
        proc = psutil.Process(popen.pid)
        peak, members, sample = 0, [proc], 0
        while True:
            pid, status, usage = os.wait4(popen.pid, os.WNOHANG)
            if pid:
                wall = time.perf_counter() - started
                break
            if sample % RESCAN_EVERY == 0:
                members = _tree(proc)
            peak = max(peak, _peak_sum(members))
            sample += 1
            time.sleep(POLL_SECONDS)
    popen.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    stdout = out_path.read_text(errors="replace")
    stderr = err_path.read_text(errors="replace")
    out_path.unlink()
    err_path.unlink()
    return Measurement(
        command=list(command),
        wall_s=wall,
        peak_rss=peak,
        cpu_s=usage.ru_utime + usage.ru_stime,
        returncode=popen.returncode,
        stdout=stdout,
        stderr=stderr,
    )


@dataclass
class Summary:
    """Repeated measurements of one thing: best (fastest) and median."""

    runs: list[Measurement]

    @property
    def best_s(self) -> float:
        return min(m.wall_s for m in self.runs)

    @property
    def median_s(self) -> float:
        return statistics.median(m.wall_s for m in self.runs)

    @property
    def peak_rss(self) -> int:
        """The largest peak over the repeats (memory is a limit, not a race)."""
        return max(m.peak_rss for m in self.runs)

    @property
    def cpu_s(self) -> float:
        """CPU seconds of the fastest run."""
        return min(self.runs, key=lambda m: m.wall_s).cpu_s


# -- formatting -------------------------------------------------------------------------


def fmt_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'; binary units, as RSS limits are usually meant."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def fmt_rate(rows: int, seconds: float) -> str:
    """Rows per second, rounded to three significant figures."""
    rate = rows / seconds if seconds > 0 else float("inf")
    return f"{float(f'{rate:.3g}'):,.0f}"


def fmt_seconds(seconds: float) -> str:
    return f"{seconds:,.2f}"


def markdown_table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], align: str | None = None
) -> str:
    """A GitHub markdown table. ``align`` has one letter per column: l, r or c."""
    align = align or "l" * len(headers)
    marks = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = [
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join(marks[a] for a in align) + " |",
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# -- what it ran on -----------------------------------------------------------------------


def package_versions(names: Iterable[str]) -> dict[str, str]:
    """Installed versions of the named distributions ('-' when missing)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "-"
    return versions


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else platform.processor() or "unknown CPU"


def machine_info() -> dict[str, str]:
    """CPU, core count, RAM, OS and Python of this machine."""
    return {
        "cpu": _cpu_model(),
        "nproc": str(os.cpu_count()),
        "ram": fmt_bytes(psutil.virtual_memory().total),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def command_line() -> str:
    """How this script was invoked, relative to the repository root when possible."""
    script = Path(sys.argv[0]).resolve()
    try:
        shown = str(script.relative_to(REPO_ROOT))
    except ValueError:
        shown = str(script)
    return shlex.join(["python", shown, *sys.argv[1:]])


# -- docs/benchmarks.md ---------------------------------------------------------------------


def update_doc_section(heading: str, body: str, path: Path = DOCS_FILE) -> None:
    """Put ``heading`` + ``body`` into the markdown file, replacing the section of that
    heading (up to the next '## ' heading) or appending it; other sections stay as they are.
    A missing file is created with a short intro."""
    text = path.read_text(encoding="utf-8") if path.exists() else DOCS_INTRO
    section = f"{heading}\n\n{body.strip()}\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        after = "".join(lines[end:])
        text = "".join(lines[:start]) + section + ("\n" + after if after else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
