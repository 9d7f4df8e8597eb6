"""Time the aikb command line as whole processes on synthetic vaults; print a Markdown table.

Every row is the wall clock (``time.perf_counter``) around one subprocess, from spawn to
exit, repeated ``--runs`` times; the table shows median, min and max, the ratio of the
median to the *floor* (the interpreter importing typer and rich's Markdown, which no
aikb command can beat), and the peak RSS of the process (``os.wait4``, per child).

Rows, for each vault size (vaults come from ``generate_vault.py``):

* cold index: ``aikb --vault V index`` with a fresh, empty ``AIKB_CACHE_DIR`` each run;
* warm ``show TERM`` and ``search QUERY`` on the index the cold runs left;
* ``show TERM`` right after a note was edited (a line appended, its mtime bumped);
* the machine's speed on the issue's reference tasks: markdown-it-py alone parsing every
  note on one core, and a stat of every note file, each timed inside its process; the
  lines under the table carry the cold index over to the issue's machine with them;
* optionally obsidiantools' ``Vault(path).connect().gather()`` on the same vault.

Plus, once: the floor, ``aikb --help``, ``aikb --version``, and warm ``show`` on a
100-note vault, to check that ``show`` does not grow with the vault.

Usage::

    python tests/benchmarks/bench.py [--sizes 1000,10000] [--runs 5] [--aikb PATH]
                                     [--vault-dir DIR] [--reference-runs 3]
                                     [--obsidiantools]

The Markdown goes to stdout, progress to stderr. Exits 1 if a measured command fails
(its stderr is printed), 2 on bad arguments. Standard library only, besides aikb itself
(and the markdown-it-py it runs on).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate_vault import concept_name, generate, plan_note

#: What the floor row runs: the imports every aikb command that prints a concept needs.
FLOOR_CODE = "import typer, rich.markdown"

#: What the obsidiantools row runs, with the vault path as its only argument.
OBSIDIANTOOLS_CODE = (
    "import sys, pathlib\n"
    "from obsidiantools.api import Vault\n"
    "Vault(pathlib.Path(sys.argv[1])).connect().gather()\n"
)

#: What the markdown-it row runs: markdown-it-py's own parser over every note of the vault,
#: in one process (one core), the texts read first; it prints the parsing seconds.
MARKDOWN_IT_CODE = (
    "import os, sys, time\n"
    "from markdown_it import MarkdownIt\n"
    "texts = []\n"
    "for folder, _, names in os.walk(sys.argv[1]):\n"
    "    for name in names:\n"
    "        if name.endswith('.md'):\n"
    "            with open(os.path.join(folder, name), encoding='utf-8') as handle:\n"
    "                texts.append(handle.read())\n"
    "parse = MarkdownIt().parse\n"
    "start = time.perf_counter()\n"
    "for text in texts:\n"
    "    parse(text)\n"
    "print(time.perf_counter() - start)\n"
)

#: What the stat row runs: ``os.walk`` of the vault and one ``os.stat`` per note file, the
#: least any tool must do to notice edits; it prints the seconds, interpreter start left out.
STAT_CODE = (
    "import os, sys, time\n"
    "start = time.perf_counter()\n"
    "for folder, _, names in os.walk(sys.argv[1]):\n"
    "    for name in names:\n"
    "        if name.endswith('.md'):\n"
    "            os.stat(os.path.join(folder, name))\n"
    "print(time.perf_counter() - start)\n"
)

#: The issue's reference machine (2 cores), per 10,000 notes of about 3 KB: markdown-it-py
#: parses them in 3.9 s on one core, stat-ing them takes 0.03 s, the floor is 0.1 s.
REFERENCE_MARKDOWN_IT = 3.9
REFERENCE_STAT = 0.03
REFERENCE_FLOOR = 0.1

#: Cold-index targets on that machine, in seconds: (notes, must, stretch).
COLD_TARGETS = ((10_000, 5.0, 2.0), (100_000, 60.0, 30.0))

#: The small vault whose warm ``show`` is compared with the big ones'.
SMALL_VAULT = 100

#: How much slower warm ``show`` may be on a big vault than on the small one.
SHOW_GROWTH_TARGET = 0.15

DEFAULT_QUERY = "контекстное окно"


class CommandFailed(Exception):
    """A measured command exited with a non-zero status."""

    def __init__(self, command: Sequence[str], returncode: int, stderr: bytes) -> None:
        super().__init__(f"command failed (exit {returncode}): {shlex.join(command)}")
        self.stderr = stderr.decode("utf-8", "replace")


@dataclass(slots=True)
class Run:
    """One finished (or killed) process."""

    seconds: float
    max_rss_kb: int | None
    returncode: int
    stderr: bytes
    timed_out: bool = False
    tree_kb: tuple[int, int] | None = None
    stdout: bytes = b""


@dataclass(slots=True)
class Row:
    """One line of the result table: a command timed over several runs."""

    label: str
    notes: int | None
    times: list[float] = field(default_factory=list)
    max_rss_kb: int | None = None
    tree_rss_kb: int | None = None
    tree_pss_kb: int | None = None
    comment: str = ""

    @property
    def median(self) -> float | None:
        """Median wall-clock seconds, or None when no run finished."""
        return statistics.median(self.times) if self.times else None


# -- running processes ------------------------------------------------------------------------


def tree_memory_kb(root: int) -> tuple[int, int]:
    """The memory of process ``root`` and all its descendants now, in KB (Linux only).

    Returns ``(RSS, PSS)`` summed over the tree, from ``/proc/PID/smaps_rollup``. The RSS
    sum is an upper bound: pages shared by several processes (libraries, the memory
    forked workers share with their parent) count once per process. PSS splits each
    shared page between the processes using it, so the tree's PSS is its fair share,
    and can be below one process's RSS. Processes that vanish meanwhile are skipped.
    """
    rss = pss = 0
    pending = [root]
    while pending:
        pid = pending.pop()
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
                for line in handle:
                    if line.startswith(b"Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith(b"Pss:"):
                        pss += int(line.split()[1])
                        break
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children", "rb") as handle:
                    pending.extend(int(child) for child in handle.read().split())
        except (OSError, ValueError):
            continue
    return rss, pss


class TreeSampler(threading.Thread):
    """Samples :func:`tree_memory_kb` of a process every ``interval`` seconds; keeps peaks."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak_rss_kb = 0
        self.peak_pss_kb = 0
        self.done = threading.Event()

    def run(self) -> None:
        """Sample until :meth:`stop` is called."""
        while True:
            rss, pss = tree_memory_kb(self.pid)
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
            self.peak_pss_kb = max(self.peak_pss_kb, pss)
            if self.done.wait(self.interval):
                return

    def stop(self) -> tuple[int, int]:
        """Stop sampling; return the peaks ``(RSS, PSS)`` in KB."""
        self.done.set()
        self.join()
        return self.peak_rss_kb, self.peak_pss_kb


def run_once(
    command: Sequence[str],
    env: Mapping[str, str],
    timeout: float | None = None,
    sample_tree: bool = False,
) -> Run:
    """Run ``command`` once, output to temporary files; time it and read its peak RSS.

    ``os.wait4`` reports the resource usage of exactly this child (with, on Linux, the
    descendants it waited for), so its ``ru_maxrss`` is the peak of the largest single
    process of this run (KB on Linux, bytes on macOS), not the maximum over every child
    so far as ``RUSAGE_CHILDREN`` would give. With ``sample_tree`` (Linux), the memory of
    the whole process tree, worker processes included, is also sampled. After ``timeout``
    seconds the process is killed and the run is marked as timed out.
    """
    killed = threading.Event()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(command), stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=dict(env)
        )
        timer: threading.Timer | None = None
        if timeout is not None:

            def kill() -> None:
                killed.set()
                proc.kill()

            timer = threading.Timer(timeout, kill)
            timer.start()
        sampler: TreeSampler | None = None
        if sample_tree and sys.platform.startswith("linux"):
            sampler = TreeSampler(proc.pid)
            sampler.start()
        max_rss: int | None = None
        if hasattr(os, "wait4"):
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
            max_rss = usage.ru_maxrss // 1024 if sys.platform == "darwin" else usage.ru_maxrss
        else:  # pragma: no cover - Windows has no wait4
            proc.wait()
            seconds = time.perf_counter() - start
        if timer is not None:
            timer.cancel()
        tree_kb = sampler.stop() if sampler is not None else None
        err.seek(0)
        out.seek(0)
        return Run(
            seconds, max_rss, proc.returncode, err.read(), killed.is_set(), tree_kb, out.read()
        )


def measure(
    label: str,
    notes: int | None,
    command: Sequence[str],
    prepare: Callable[[], Mapping[str, str]],
    runs: int,
    warmup: bool = True,
    timeout: float | None = None,
    sample_tree: bool = False,
    timed_inside: bool = False,
) -> Row:
    """Time ``command`` ``runs`` times (after one untimed run if ``warmup``).

    ``prepare`` is called, untimed, before every run and returns the environment for it
    (a fresh cache dir, an edited note...). Raises :class:`CommandFailed` if a run exits
    non-zero; a run killed after ``timeout`` seconds ends the row with a comment instead.
    ``sample_tree`` adds one more run, not timed, that samples the memory of the whole
    process tree (see :func:`run_once`): reading ``smaps_rollup`` takes each process's
    memory-map lock, which slowed the timed 10,000-note builds it watched by about 10%.
    With ``timed_inside``, a run's time is the number of seconds the command prints (it
    times its own work, leaving out interpreter start and imports).
    """
    row = Row(label, notes)
    progress(f"{label}{f' ({notes} notes)' if notes else ''}: ", end="")
    if warmup:
        check(command, run_once(command, prepare(), timeout))
    for _ in range(runs):
        run = run_once(command, prepare(), timeout)
        if run.timed_out:
            row.comment = f"did not finish within {timeout:.0f} s"
            break
        check(command, run)
        took = float(run.stdout) if timed_inside else run.seconds
        row.times.append(took)
        if run.max_rss_kb is not None:
            row.max_rss_kb = max(row.max_rss_kb or 0, run.max_rss_kb)
        progress(f"{took:.3f}s ", end="")
    if sample_tree and not row.comment:
        run = run_once(command, prepare(), timeout, sample_tree=True)
        check(command, run)
        if run.tree_kb is not None:
            row.tree_rss_kb, row.tree_pss_kb = run.tree_kb
        progress("(+1 run sampling memory) ", end="")
    progress(row.comment)
    return row


def check(command: Sequence[str], run: Run) -> None:
    """Raise :class:`CommandFailed` unless the run exited with status 0."""
    if run.returncode != 0:
        raise CommandFailed(command, run.returncode, run.stderr)


def progress(message: str, end: str = "\n") -> None:
    """Report progress on stderr (stdout is kept for the Markdown)."""
    print(message, end=end, file=sys.stderr, flush=True)


# -- what to run --------------------------------------------------------------------------


def find_aikb(given: str | None) -> Path:
    """The aikb executable: ``--aikb``, else next to this interpreter, else on PATH."""
    if given:
        path = Path(given).resolve()
        if not path.is_file():
            progress(f"bench: {given} is not a file")
            raise SystemExit(2)
        return path
    sibling = Path(sys.executable).parent / "aikb"
    if sibling.exists():
        return sibling
    found = shutil.which("aikb")
    if found is None:
        progress("bench: no aikb executable found; pass --aikb PATH")
        raise SystemExit(2)
    return Path(found)


def interpreter_of(script: Path) -> str:
    """The Python a console script runs with (its ``#!`` line), else this interpreter."""
    try:
        with script.open("rb") as handle:
            first = handle.readline().decode("utf-8", "replace").strip()
    except OSError:
        return sys.executable
    if first.startswith("#!"):
        parts = shlex.split(first[2:])
        if parts and "python" in Path(parts[-1]).name:
            return parts[-1]
        if parts and "python" in Path(parts[0]).name:
            return parts[0]
    return sys.executable


def python_version(python: str) -> str:
    """The version of another interpreter, e.g. ``3.11.7``."""
    result = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or "?"


def cold_build_args(aikb: Path, env: Mapping[str, str]) -> tuple[list[str], str]:
    """The arguments that build the index, and a remark if ``index`` does not exist yet."""
    result = subprocess.run(
        [str(aikb), "--help"], capture_output=True, text=True, env=dict(env), check=False
    )
    commands = {line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")}
    if "index" in commands:
        return ["index"], ""
    return ["list", "--notes"], "aikb has no `index` command yet: `list --notes` builds instead"


# -- vaults -------------------------------------------------------------------------------


def prepare_vault(notes: int, seed: int, workspace: Path, reuse: Path | None) -> Path:
    """A generated vault of ``notes`` notes, kept in ``reuse`` (else ``workspace``).

    A vault is complete once its ``.done`` marker (next to it) exists; a complete one is
    reused, a half-written one (an interrupted run) is generated again.
    """
    base = reuse or workspace
    root = base / f"notes-{notes}-seed-{seed}"
    done = base / f"notes-{notes}-seed-{seed}.done"
    if done.exists() and root.is_dir():
        progress(f"reusing the {notes}-note vault in {root}")
        return root
    if root.exists():
        shutil.rmtree(root)
    progress(f"generating {notes} notes in {root} ... ", end="")
    stats = generate(root, notes, seed)
    progress(f"{stats.bytes / 1e6:.1f} MB in {stats.seconds:.1f} s")
    done.write_text(f"{stats}\n", encoding="utf-8")
    return root


class EditedNote:
    """Appends a line to one note before each run, and puts the file back afterwards."""

    def __init__(self, path: Path, link_to: str) -> None:
        self.path = path
        self.link_to = link_to
        self.original = path.read_bytes()
        self.original_ns = path.stat().st_mtime_ns
        self.last_ns = self.original_ns
        self.edits = 0

    def edit(self) -> None:
        """Append a line with a link, and move the mtime forward by at least a second."""
        self.edits += 1
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(f"\nEdit {self.edits} by the benchmark: see [[{self.link_to}]].\n")
        self.last_ns = max(time.time_ns(), self.last_ns + 1_000_000_000)
        os.utime(self.path, ns=(self.last_ns, self.last_ns))

    def restore(self) -> None:
        """Write the original bytes and mtime back, so the vault can be reused."""
        self.path.write_bytes(self.original)
        os.utime(self.path, ns=(self.original_ns, self.original_ns))


# -- the benchmark ------------------------------------------------------------------------


@dataclass(slots=True)
class Bench:
    """Settings shared by every row, and the rows measured so far."""

    aikb: Path
    python: str
    env: dict[str, str]
    workspace: Path
    runs: int
    term: str
    query: str
    build_args: list[str]
    seed: int
    link_target: str
    reference_runs: int
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failed: bool = False

    def aikb_command(self, vault: Path | None, *args: str) -> list[str]:
        """``aikb [--vault V] ARGS``."""
        return [str(self.aikb), *(["--vault", str(vault)] if vault else []), *args]

    def fresh_cache(self) -> dict[str, str]:
        """The environment with a new, empty ``AIKB_CACHE_DIR``."""
        cache = tempfile.mkdtemp(prefix="cache-", dir=self.workspace)
        return {**self.env, "AIKB_CACHE_DIR": cache}

    def build_index(self, vault: Path) -> dict[str, str]:
        """Build ``vault``'s index once, untimed; return the environment that finds it."""
        env = self.fresh_cache()
        command = self.aikb_command(vault, *self.build_args)
        check(command, run_once(command, env))
        return env

    def startup_rows(self) -> None:
        """The floor, ``--help`` and ``--version``: no vault involved."""
        self.add(
            measure(
                f'floor: `python -c "{FLOOR_CODE}"`',
                None,
                [self.python, "-c", FLOOR_CODE],
                lambda: self.env,
                self.runs,
            )
        )
        for flag in ("--help", "--version"):
            self.add(
                measure(
                    f"`aikb {flag}`",
                    None,
                    self.aikb_command(None, flag),
                    lambda: self.env,
                    self.runs,
                )
            )

    def vault_rows(self, vault: Path, notes: int) -> tuple[Row, Row]:
        """Cold index, warm show and search, show after an edit; returns (cold, warm show)."""
        build = " ".join(self.build_args)
        warm_env: dict[str, str] = {}

        def fresh() -> Mapping[str, str]:
            if "AIKB_CACHE_DIR" in warm_env:  # the previous cold run's index: not needed
                shutil.rmtree(warm_env["AIKB_CACHE_DIR"], ignore_errors=True)
            warm_env.clear()
            warm_env.update(self.fresh_cache())
            return warm_env

        cold = measure(
            f"cold index: `aikb {build}`, empty cache",
            notes,
            self.aikb_command(vault, *self.build_args),
            fresh,
            self.runs,
            warmup=False,
            sample_tree=True,
        )
        self.add(cold)
        show = self.aikb_command(vault, "show", self.term)
        warm_show = measure("warm `aikb show TERM`", notes, show, lambda: warm_env, self.runs)
        self.add(warm_show)
        search = self.aikb_command(vault, "search", self.query)
        self.add(measure("warm `aikb search QUERY`", notes, search, lambda: warm_env, self.runs))
        edited = EditedNote(vault / plan_note(0, self.seed).path, self.link_target)

        def edit() -> Mapping[str, str]:
            edited.edit()
            return warm_env

        try:
            self.add(
                measure(
                    "`aikb show TERM` after editing one note",
                    notes,
                    show,
                    edit,
                    self.runs,
                    warmup=False,
                )
            )
        finally:
            edited.restore()
        return cold, warm_show

    def reference_rows(self, vault: Path, notes: int) -> tuple[Row, Row]:
        """The machine's speed on the issue's reference tasks: markdown-it-py alone parsing
        the vault on one core, and a stat of every note file; returns (parse, stat)."""
        parse = measure(
            "reference: markdown-it-py alone parses every note, one core",
            notes,
            [self.python, "-c", MARKDOWN_IT_CODE, str(vault)],
            lambda: self.env,
            self.reference_runs,
            warmup=False,
            timed_inside=True,
        )
        self.add(parse)
        stat = measure(
            "reference: `os.walk` and `os.stat` of every note",
            notes,
            [self.python, "-c", STAT_CODE, str(vault)],
            lambda: self.env,
            self.runs,
            timed_inside=True,
        )
        self.add(stat)
        return parse, stat

    def obsidiantools_row(
        self, python: str, vault: Path, notes: int, runs: int, timeout: float
    ) -> Row:
        """Time obsidiantools indexing the same vault; a failure is reported, not raised."""
        command = [python, "-c", OBSIDIANTOOLS_CODE, str(vault)]
        label = "obsidiantools `Vault(path).connect().gather()`"
        try:
            row = measure(label, notes, command, lambda: self.env, runs, False, timeout)
        except CommandFailed as exc:
            progress(f"{exc}\n{exc.stderr}")
            self.failed = True
            row = Row(label, notes, comment="failed, see stderr")
        self.add(row)
        return row

    def add(self, row: Row) -> None:
        """Keep a measured row for the table."""
        self.rows.append(row)


# -- output -------------------------------------------------------------------------------


def seconds(value: float | None) -> str:
    """A duration for the table."""
    if value is None:
        return "-"
    return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"


def table(rows: Sequence[Row], floor: float) -> str:
    """The rows as a Markdown table, ratios to the floor's median included."""
    lines = [
        "| what | notes | median | min | max | vs floor | peak RSS | runs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        median = row.median
        ratio = f"{median / floor:.2f}x" if median is not None and floor else "-"
        rss = f"{row.max_rss_kb / 1024:.0f} MB" if row.max_rss_kb is not None else "-"
        label = row.label + (f" ({row.comment})" if row.comment else "")
        notes = f"{row.notes:,}" if row.notes is not None else "-"
        lines.append(
            f"| {label} | {notes} | {seconds(median)} "
            f"| {seconds(min(row.times, default=None))} | {seconds(max(row.times, default=None))} "
            f"| {ratio} | {rss} | {len(row.times)} |"
        )
    return "\n".join(lines)


def percent_change(new: float, old: float) -> str:
    """``+4.2%`` style."""
    return f"{(new - old) / old * 100:+.1f}%"


# -- main ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Time aikb as whole processes on synthetic vaults; print a Markdown table."
    )
    parser.add_argument("--sizes", default="1000,10000", help="vault sizes (default 1000,10000)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per row (default 5)")
    parser.add_argument("--aikb", help="aikb executable (default: next to python, or on PATH)")
    parser.add_argument("--seed", type=int, default=42, help="vault generator seed")
    parser.add_argument(
        "--vault-dir", type=Path, help="keep generated vaults here and reuse them by size"
    )
    parser.add_argument("--term", help="term for show (default: the first generated note)")
    parser.add_argument("--query", default=DEFAULT_QUERY, help="query for search")
    parser.add_argument(
        "--no-pycache",
        action="store_true",
        help="run with the environment's bytecode settings as they are (default: cache "
        "bytecode under a private PYTHONPYCACHEPREFIX, as an installed package would)",
    )
    parser.add_argument(
        "--reference-runs",
        type=int,
        default=3,
        help="runs of markdown-it-py alone, the machine-speed reference (default 3)",
    )
    parser.add_argument("--obsidiantools", action="store_true", help="also time obsidiantools")
    parser.add_argument(
        "--obsidiantools-python", default=sys.executable, help="interpreter with obsidiantools"
    )
    parser.add_argument("--obsidiantools-runs", type=int, default=1, help="runs (default 1)")
    parser.add_argument(
        "--obsidiantools-timeout",
        type=float,
        default=600.0,
        help="give up on an obsidiantools run after this many seconds (default 600)",
    )
    args = parser.parse_args(argv)
    try:
        args.size_list = [int(size) for size in args.sizes.split(",") if size.strip()]
    except ValueError:
        parser.error(f"--sizes must be comma-separated integers, not {args.sizes!r}")
    if not args.size_list or min(args.size_list) < 1 or min(args.runs, args.reference_runs) < 1:
        parser.error("--sizes, --runs and --reference-runs must be positive")
    return args


def base_env(workspace: Path, pycache: bool) -> dict[str, str]:
    """The environment of every measured command.

    No ``AIKB_VAULT`` (``--vault`` is always given), no colour, and, unless told
    otherwise, bytecode cached in a private prefix: with ``PYTHONDONTWRITEBYTECODE`` set
    and an editable install, every run would compile aikb's modules again.
    """
    env = {key: value for key, value in os.environ.items() if key != "AIKB_VAULT"}
    env["NO_COLOR"] = "1"
    if pycache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(workspace / "pycache")
    return env


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the Markdown report; see the module docstring."""
    args = parse_args(argv)
    aikb = find_aikb(args.aikb)
    python = interpreter_of(aikb)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    workspace = Path(tempfile.mkdtemp(prefix="aikb-bench-"))
    if args.vault_dir:
        args.vault_dir.mkdir(parents=True, exist_ok=True)
    try:
        env = base_env(workspace, not args.no_pycache)
        version = subprocess.run(
            [str(aikb), "--version"], capture_output=True, text=True, env=env, check=False
        ).stdout.strip()
        build_args, build_remark = cold_build_args(aikb, env)
        bench = Bench(
            aikb=aikb,
            python=python,
            env=env,
            workspace=workspace,
            runs=args.runs,
            term=args.term or concept_name(0, args.seed),
            query=args.query,
            build_args=build_args,
            seed=args.seed,
            link_target=concept_name(1, args.seed),
            reference_runs=args.reference_runs,
        )
        if build_remark:
            bench.notes.append(build_remark)
            progress(f"note: {build_remark}")
        try:
            summary = run_all(bench, args)
        except CommandFailed as exc:
            progress(f"bench: {exc}\n{exc.stderr}")
            return 1
    finally:
        shutil.rmtree(workspace, ignore_errors=True)

    floor = bench.rows[0].median or 0.0
    lines = [
        "## aikb benchmark",
        "",
        f"- Machine: {platform.system()} {platform.release()} {platform.machine()}, "
        f"{os.cpu_count()} cores (os.cpu_count())"
        + (f", load average {load:.2f} at start" if load is not None else ""),
        f"- Python {python_version(python)} ({python}, the interpreter aikb runs on)",
        f"- {version or 'aikb'} ({aikb}); show TERM = `{bench.term}`, "
        f"search QUERY = `{bench.query}`",
        f"- Whole-process wall clock, {args.runs} timed runs per row after one untimed run "
        "(cold index and show-after-edit: no untimed run; cold index: a fresh empty "
        "AIKB_CACHE_DIR each run). Peak RSS: the largest single process (os.wait4), "
        "largest over the timed runs.",
        "- Bytecode: "
        + (
            "as the environment has it (--no-pycache)"
            if args.no_pycache
            else "cached under a private PYTHONPYCACHEPREFIX, like an installed package"
        ),
        *(f"- Note: {note}" for note in bench.notes),
        "",
        table(bench.rows, floor),
        "",
        *summary,
    ]
    print("\n".join(lines))
    return 1 if bench.failed else 0


def run_all(bench: Bench, args: argparse.Namespace) -> list[str]:
    """Measure every row in order; return the summary lines printed under the table."""
    bench.startup_rows()
    floor = bench.rows[0].median or 0.0
    summary: list[str] = []

    small = prepare_vault(SMALL_VAULT, args.seed, bench.workspace, args.vault_dir)
    small_env = bench.build_index(small)
    small_show = measure(
        "warm `aikb show TERM`",
        SMALL_VAULT,
        bench.aikb_command(small, "show", bench.term),
        lambda: small_env,
        bench.runs,
    )
    bench.add(small_show)

    ot_python: str | None = None
    if args.obsidiantools:
        probe = subprocess.run(
            [args.obsidiantools_python, "-c", "import obsidiantools.api"],
            capture_output=True,
            text=True,
            env=bench.env,
            check=False,
        )
        if probe.returncode == 0:
            ot_python = args.obsidiantools_python
        else:
            last = (probe.stderr.strip().splitlines() or ["?"])[-1]
            bench.notes.append(
                f"obsidiantools not importable in {args.obsidiantools_python}: {last}"
            )

    for notes in args.size_list:
        vault = prepare_vault(notes, args.seed, bench.workspace, args.vault_dir)
        cold, show = bench.vault_rows(vault, notes)
        if cold.tree_rss_kb and cold.tree_pss_kb:
            summary.append(
                f"- cold index, {notes:,} notes: largest single process "
                f"{(cold.max_rss_kb or 0) / 1024:.0f} MB RSS; whole process tree, workers "
                f"included (sampled every 0.1 s in one more, untimed run): "
                f"{cold.tree_rss_kb / 1024:.0f} MB RSS summed, "
                f"{cold.tree_pss_kb / 1024:.0f} MB PSS"
            )
        if show.median and small_show.median:
            verdict = (
                "ok" if show.median <= small_show.median * (1 + SHOW_GROWTH_TARGET) else ("NOT MET")
            )
            summary.append(
                f"- warm show, {notes:,} vs {SMALL_VAULT} notes: {seconds(show.median)} vs "
                f"{seconds(small_show.median)} ({percent_change(show.median, small_show.median)}"
                f"; target: within {SHOW_GROWTH_TARGET:.0%}: {verdict}); "
                f"{show.median / floor:.2f}x floor"
            )
        parse, stat = bench.reference_rows(vault, notes)
        summary += reference_lines(notes, cold, parse, stat, floor)
        if ot_python is not None:
            row = bench.obsidiantools_row(
                ot_python, vault, notes, args.obsidiantools_runs, args.obsidiantools_timeout
            )
            if row.median and cold.median:
                summary.append(
                    f"- obsidiantools / aikb cold index, {notes:,} notes: "
                    f"{row.median / cold.median:.1f}x ({seconds(row.median)} vs "
                    f"{seconds(cold.median)})"
                )
            else:
                summary.append(f"- obsidiantools, {notes:,} notes: {row.comment or 'no result'}")
    return summary


def reference_lines(notes: int, cold: Row, parse: Row, stat: Row, floor: float) -> list[str]:
    """The cold index and the stat floor of ``notes`` notes, carried over to the issue's
    reference machine by the ratio of markdown-it-py's parsing time here and there.

    The issue's absolute targets (cold index <= 5 s at 10,000 notes) were set on a machine
    where markdown-it-py alone parses 10,000 notes in 3.9 s on one core and the floor is
    0.1 s; on a slower machine the same code takes proportionally longer, so the estimate
    is ``cold x reference parse / parse here``, from rows of this one run.
    """
    lines = []
    reference = REFERENCE_MARKDOWN_IT * notes / 10_000
    if parse.median and cold.median:
        estimate = cold.median * reference / parse.median
        line = (
            f"- cold index, {notes:,} notes, carried over to the issue's reference machine: "
            f"about {seconds(estimate)} ({seconds(cold.median)} here; markdown-it-py alone "
            f"takes {seconds(parse.median)} here, about {seconds(reference)} there, "
            f"{parse.median / reference:.1f}x)"
        )
        for size, must, stretch in COLD_TARGETS:
            if size == notes:
                line += (
                    f"; target <= {must:.0f} s: {'ok' if estimate <= must else 'NOT MET'}, "
                    f"stretch <= {stretch:.0f} s: {'ok' if estimate <= stretch else 'not met'}"
                )
        lines.append(line)
    if stat.median and floor:
        there = REFERENCE_STAT * notes / 10_000
        lines.append(
            f"- stat of every note file, {notes:,} notes: {seconds(stat.median)} = "
            f"{stat.median / floor:.2f}x floor (reference machine: about {seconds(there)} = "
            f"{there / REFERENCE_FLOOR:.2f}x its floor); every command that must notice "
            "edits pays it"
        )
    return lines


if __name__ == "__main__":
    sys.exit(main())
