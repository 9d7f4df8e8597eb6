"""Where the vault is, which files it holds, and reading them safely.

This is the thin I/O layer around :mod:`aikb.parse`: it lists ``*.md`` notes and other
files (attachments), reads bytes, decodes them forgivingly, and turns every I/O failure
into a :class:`~aikb.model.Problem` naming the file, so one bad note never hides the rest.
Nothing here ever writes inside the vault.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import sys
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import BinaryIO, Generic, NamedTuple, TypeVar

from aikb.errors import ConfigError, VaultError
from aikb.model import ParsedNote, Problem
from aikb.normalize import nfc

_T = TypeVar("_T")

APP = "aikb"
UNREAD = -1
"""The size recorded for a note whose file could not be read (see :func:`load_note`)."""
MAX_NOTE_BYTES = 20 * 1024 * 1024
"""Notes larger than this (20 MiB) are listed but their text is not read."""
PIPE_SIZE = 1 << 20
"""Bytes a pipe to or from a child process can hold where the system lets it grow
(Linux): see :func:`widen_pipe`."""


def config_file(env: Mapping[str, str] | None = None) -> Path:
    """The config file: ``$AIKB_CONFIG`` or ``config.toml`` in the user config dir.

    The user config dir comes from platformdirs (``~/.config/aikb`` on Linux, honouring
    ``XDG_CONFIG_HOME``; ``~/Library/Application Support/aikb`` on macOS).
    """
    env = os.environ if env is None else env
    if env.get("AIKB_CONFIG"):
        return Path(env["AIKB_CONFIG"]).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP)) / "config.toml"


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """The cache dir for index databases: ``$AIKB_CACHE_DIR`` or the user cache dir.

    platformdirs gives ``~/.cache/aikb`` on Linux (honouring ``XDG_CACHE_HOME``) and
    ``~/Library/Caches/aikb`` on macOS. Never a folder inside the vault.
    """
    env = os.environ if env is None else env
    if env.get("AIKB_CACHE_DIR"):
        return Path(env["AIKB_CACHE_DIR"]).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir(APP))


def bundled_vault() -> Path:
    """The sample vault shipped inside the package (``aikb/notes``).

    In a source checkout or an editable install the package has no copy, so the
    ``notes/`` folder at the top of the repository is used.
    """
    here = Path(__file__).resolve().parent
    for candidate in (here / "notes", here.parent.parent / "notes"):
        if candidate.is_dir():
            return candidate
    raise VaultError("the bundled sample vault is missing from this installation; use --vault")


def locate_vault(option: str | None, env: Mapping[str, str] | None = None) -> Path:
    """Decide which folder is the vault, and check it is one.

    Precedence, first match wins:

    1. ``option``, the ``--vault PATH`` global option;
    2. the ``AIKB_VAULT`` environment variable;
    3. ``vault = "PATH"`` in the config file (see :func:`config_file`);
    4. the bundled sample vault (:func:`bundled_vault`).

    ``~`` is expanded. Returns the absolute path as the user wrote it (symlinks kept, so
    an editor opens the files under the path the user knows). Raises :class:`VaultError` when
    the chosen path does not exist or is not a directory, and :class:`ConfigError` when the
    config file cannot be parsed.
    """
    env = os.environ if env is None else env
    chosen: str | None = None
    source = ""
    if option is not None:
        if not option.strip():
            raise VaultError("--vault is empty; give a folder")
        chosen, source = option, "--vault"
    elif env.get("AIKB_VAULT"):
        chosen, source = env["AIKB_VAULT"], "AIKB_VAULT"
    else:
        path = config_file(env)
        configured = _configured_vault(path, required=bool(env.get("AIKB_CONFIG")))
        if configured:
            chosen, source = configured, str(path)
    if chosen is None:
        return bundled_vault()
    vault = Path(chosen).expanduser()
    if not vault.exists():
        raise VaultError(f"vault not found: {chosen} (from {source})")
    if not vault.is_dir():
        raise VaultError(f"vault is not a directory: {chosen} (from {source})")
    return vault.absolute()


CONFIG_LIMIT = 1 << 20
"""Most bytes of a config file read (a vault path needs a few dozen)."""


def _configured_vault(path: Path, required: bool = False) -> str | None:
    try:
        raw = _read_bytes(str(path), CONFIG_LIMIT)  # a FIFO in its place is refused
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file not found: {path} (from AIKB_CONFIG)") from None
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    if len(raw) >= CONFIG_LIMIT:
        raise ConfigError(f"config file {path} is too large (1 MiB or more)")
    import tomllib

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"invalid config file {path}: {exc}") from None
    value = data.get("vault")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f'invalid config file {path}: vault must be a path string, e.g. vault = "~/notes"'
        )
    return value


class FileStat(NamedTuple):
    """A note file found by :func:`scan`: vault-relative POSIX path, size (bytes), and
    change stamp (ns): the later of its mtime and ctime, so a file rewritten with its old
    size and a restored mtime (``rsync -t``, ``tar``, ``touch -d``) still reads as changed,
    since no user tool can set the ctime."""

    path: str
    size: int
    changed_ns: int


class Listing(NamedTuple):
    """What :func:`scan` found: ``(size, changed_ns)`` of each note by path, the other
    files (attachments), and problems."""

    notes: dict[str, tuple[int, int]]
    attachments: list[str]
    problems: list[Problem]


def is_note_file(name: str) -> bool:
    """True for a Markdown note file name (``*.md``, any case of the extension)."""
    return name[-3:].lower() == ".md" and len(name) > 3


def scan(root: Path) -> Listing:
    """List the vault: every ``*.md`` file with its size and change stamp, and every other file.

    Folders and files whose name starts with ``.`` (``.obsidian``, ``.git``, ``.trash``)
    are skipped, as Obsidian does. Symlinked folders are never followed (no loops, nothing
    outside the vault); a symlinked file is used only when it points inside the vault.
    Paths are relative to ``root`` with ``/`` separators. Unlistable folders and
    unstatable files become problems, never exceptions. One ``stat`` per note file and
    nothing per other file: this runs before every command.
    """
    root_str = str(root)
    notes: dict[str, tuple[int, int]] = {}
    attachments: list[str] = []
    problems: list[Problem] = []
    real_root = os.path.realpath(root_str)
    # Listing through folder descriptors makes each stat a lookup of one name in an
    # open folder rather than of a whole path: about 15% faster on 10,000 notes.
    by_fd = os.scandir in os.supports_fd and os.open in os.supports_dir_fd
    is_regular, is_link = stat.S_ISREG, stat.S_ISLNK
    pending: list[tuple[str, int | None]] = [("", None)]
    waiting: dict[int, int] = {}  # open folder descriptor -> subfolders still to list
    while pending:
        rel_dir, parent_fd = pending.pop()
        prefix = rel_dir + "/" if rel_dir else ""
        fd: int | None = None
        try:
            if by_fd:
                name = rel_dir.rpartition("/")[2] if parent_fd is not None else root_str
                try:
                    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=parent_fd)
                finally:
                    _release(parent_fd, waiting)
                with os.scandir(fd) as found:
                    entries = list(found)
            else:
                with os.scandir(os.path.join(root_str, rel_dir)) as found:
                    entries = list(found)
        except OSError as exc:
            problems.append(Problem(rel_dir or ".", 0, f"cannot list folder: {_why(exc)}"))
            entries = []
        for entry in entries:  # the hot loop: runs once per file before every command
            name = entry.name
            if name[0] == ".":
                continue
            if not name.isascii() and not _decodable(name):
                problems.append(
                    Problem(
                        printable(prefix + name),
                        0,
                        "file name is not valid UTF-8, skipped (rename it)",
                    )
                )
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append((prefix + name, fd))
                    if fd is not None:
                        waiting[fd] = waiting.get(fd, 0) + 1
                elif name[-3:].lower() == ".md" and len(name) > 3:
                    info = entry.stat(follow_symlinks=False)
                    if not is_regular(info.st_mode):
                        if not is_link(info.st_mode):
                            continue
                        full = os.path.join(root_str, prefix + name)
                        if not _inside(full, real_root):
                            continue
                        info = os.stat(full)
                        if not is_regular(info.st_mode):
                            continue
                    modified, changed = info.st_mtime_ns, info.st_ctime_ns
                    notes[prefix + name] = (
                        info.st_size,
                        modified if modified > changed else changed,
                    )
                elif not entry.is_symlink() or _inside(
                    os.path.join(root_str, prefix + name), real_root
                ):
                    attachments.append(prefix + name)
            except OSError as exc:
                problems.append(Problem(prefix + name, 0, f"cannot read file: {_why(exc)}"))
        if fd is not None and not waiting.get(fd):
            os.close(fd)
    return Listing(notes, attachments, problems)


class Pending(Generic[_T]):
    """Work started by :func:`in_background`: call it to wait for the result (or the
    exception raised); :meth:`ready` says whether that would return at once."""

    def __init__(self, wait: Callable[[], _T], ready: Callable[[], bool]) -> None:
        self._wait = wait
        self._ready = ready

    def __call__(self) -> _T:
        return self._wait()

    def ready(self) -> bool:
        """Whether the work is done (waiting would not block)."""
        return self._ready()


def in_background(work: Callable[[], _T]) -> Pending[_T]:
    """Start ``work()`` beside this process; returns the :class:`Pending` result. For
    listing the vault (see :func:`aikb.index.survey`) while a command imports the modules
    it needs.

    On Linux ``work`` runs in a forked child process, which hands its result back through
    a pipe, pickled (a 10,000-note listing is 0.65 MB, about 10 ms each way): the caller's
    imports then truly run beside it, where a thread would mostly wait for the interpreter
    lock (listing 10,000 notes took 0.09 s alone and 0.23-0.33 s in a thread beside
    ``show``'s imports). Elsewhere (macOS, where forking without ``exec`` is unsafe;
    Windows), or when this process already runs other threads (of any kind), it runs in
    a thread; if the child fails in any way (killed, out of memory), or no thread can be
    started, this process runs ``work`` itself when waited on.
    """
    import threading

    def whole(_: int) -> _T:
        return work()

    started = _fork_if_safe(partial(_send_parts, whole, 1))
    if started is not None:
        child = ChildParts(whole, 1, *started)  # its one part: the result

        def received() -> _T:
            [result] = child  # read to the end, which reaps the child
            return result

        return Pending(received, child.ready)
    found: list[_T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            found.append(work())
        except BaseException as exc:  # handed to the waiting thread, raised there
            failed.append(exc)

    worker = threading.Thread(target=run, name="aikb-background", daemon=True)
    try:
        worker.start()
    except RuntimeError:  # no thread can be started (process limit): work when waited on
        return Pending(work, lambda: True)

    def wait() -> _T:
        worker.join()
        if failed:
            raise failed[0]
        return found[0]

    return Pending(wait, lambda: not worker.is_alive())


def in_child_parts(work: Callable[[int], _T], count: int) -> ChildParts[_T]:
    """Start computing ``work(0)``, ``work(1)``, ... ``work(count - 1)`` in a forked child
    process; iterate the result to get them in order, each as soon as it is done, while
    this process goes on with other work between parts. Never a thread: this is for
    CPU-bound work, which a thread would run no faster than the caller, on objects the
    caller goes on changing (the child sees them as they were when it started).

    A part the child does not deliver (it failed or was killed, or forking is not safe
    here: not Linux, other threads running) is computed in this process when its turn
    comes, so ``work(k)`` may run twice, and must not change anything. Use the result as
    a context manager: leaving the block, even by an exception, ends the child (which
    also ends with this process).
    """
    started = _fork_if_safe(partial(_send_parts, work, count))
    if started is None:
        return ChildParts(work, count)
    pid, pipe = started
    widen_pipe(pipe)
    return ChildParts(work, count, pid, pipe)


def _send_parts(work: Callable[[int], object], count: int, pipe: BinaryIO) -> None:
    """In the child of :func:`in_child_parts` (or :func:`in_background`, one part): each
    part pickled, after its length."""
    import pickle

    for number in range(count):
        data = pickle.dumps(work(number), protocol=pickle.HIGHEST_PROTOCOL)
        pipe.write(len(data).to_bytes(8, "little") + data)
        pipe.flush()


class ChildParts(Generic[_T]):
    """The parts :func:`in_child_parts` computes: iterate once; :meth:`close` (or leaving
    the ``with`` block) ends the child, if one still runs."""

    def __init__(
        self, work: Callable[[int], _T], count: int, pid: int | None = None, pipe: int = -1
    ) -> None:
        self._work = work
        self._count = count
        self._pid = pid
        self._pipe = pipe

    def __iter__(self) -> Iterator[_T]:
        import pickle

        done = 0
        if self._pipe >= 0:
            with open(self._pipe, "rb") as pipe:
                self._pipe = -1  # closed with the file
                while done < self._count:
                    head = pipe.read(8)
                    size = int.from_bytes(head, "little") if len(head) == 8 else 0
                    data = pipe.read(size) if size else b""
                    if not data or len(data) != size:
                        break  # the child ended early: the rest is computed here
                    yield pickle.loads(data)  # our own child's bytes
                    done += 1
            self.close()
        for number in range(done, self._count):
            yield self._work(number)

    def ready(self) -> bool:
        """Whether reading the next part would return at once: the child has sent it,
        or ended (or there is no child)."""
        if self._pipe < 0:
            return True
        import select

        return bool(select.select([self._pipe], [], [], 0)[0])

    def close(self) -> None:
        """End the child without waiting for the parts not read yet, and release its
        pipe. Safe to call at any time, and more than once."""
        if self._pipe >= 0:
            os.close(self._pipe)
            self._pipe = -1
        if self._pid is not None:
            with contextlib.suppress(OSError):
                os.kill(self._pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.waitpid(self._pid, 0)
            self._pid = None

    def __enter__(self) -> ChildParts[_T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def widen_pipe(fd: int) -> None:
    """Let a pipe hold :data:`PIPE_SIZE` bytes where the system allows it (Linux), instead
    of 64 KiB, so the process writing it goes on working while the reader is busy."""
    import fcntl

    with contextlib.suppress(AttributeError, OSError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)


def _fork_if_safe(produce: Callable[[BinaryIO], None]) -> tuple[int, int] | None:
    """:func:`_fork_writer`, or None where forking is unsafe (not Linux, other threads
    running) or fails."""
    if sys.platform.startswith("linux") and _single_threaded():
        with contextlib.suppress(OSError):
            return _fork_writer(produce)
    return None


def watch_parent(parent: int | None = None) -> None:
    """End this process as soon as its parent is gone (``kill``, even ``kill -9``), instead
    of working on for nobody with the parent's files and terminal open. For child
    processes: a thread polls the parent's pid 4 times a second. ``parent`` is the pid the
    parent had before starting this process (it may be gone already); by default, the
    current parent. Where no thread can be started (a process limit), nothing watches."""
    import threading
    import time

    if parent is None:
        parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.25)
        os._exit(1)

    with contextlib.suppress(RuntimeError):
        threading.Thread(target=watch, name="aikb-parent-watch", daemon=True).start()


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Run the block without Python's cyclic garbage collector (reference counting still
    frees everything), restoring its previous state after.

    For building an index: the objects made are tuples and lists that hold no cycles
    (a test checks that building leaves no cyclic garbage), yet each collection of the
    oldest generation walks all of them again, and those collections come every time
    the heap has grown by a quarter. At 10,000 notes that was about 11% of the index
    writer's CPU time and 12% of the link-resolving child's (``perf record``).
    """
    import gc

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _single_threaded() -> bool:
    """Whether this process runs one thread only, counting those :mod:`threading` does not
    know (started by C libraries or ``_thread``): forking beside any other thread risks
    a child stuck on a lock that thread held (SQLite's allocator, for one)."""
    import threading

    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return threading.active_count() == 1


def _fork_writer(produce: Callable[[BinaryIO], None]) -> tuple[int, int]:
    """Fork a child that runs ``produce`` on the write end of a pipe and exits; returns
    its pid and the read end. Raises OSError if the child cannot start. The child writes
    nothing else: its standard streams are ``/dev/null`` (``out=$(aikb index)`` never
    waits for it), it runs no exit handler, and it ends with its parent."""
    read_end, write_end = os.pipe()
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        raise
    if pid == 0:  # the child: work, send, and leave without running any exit handler
        status = 1
        try:
            os.close(read_end)
            quiet = os.open(os.devnull, os.O_RDWR)
            for stream in (0, 1, 2):
                os.dup2(quiet, stream)
            watch_parent(parent)
            with open(write_end, "wb") as pipe:
                produce(pipe)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    return pid, read_end


def _decodable(name: str) -> bool:
    """False for a name holding bytes that are not UTF-8 (Python keeps them as surrogates)."""
    if name.isascii():
        return True
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(path: str) -> str:
    """A path with undecodable bytes shown as U+FFFD, safe to store and print."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _release(fd: int | None, waiting: dict[int, int]) -> None:
    """One subfolder of the folder open as ``fd`` has been opened: close it after the last."""
    if fd is None:
        return
    waiting[fd] -= 1
    if not waiting[fd]:
        del waiting[fd]
        os.close(fd)


def _inside(path: str, real_root: str) -> bool:
    """True for a symlink to a file inside the vault (folders are never followed)."""
    target = os.path.realpath(path)
    inside = target == real_root or target.startswith(real_root + os.sep)
    return inside and not os.path.isdir(target)


def _why(exc: OSError) -> str:
    return (exc.strerror or exc.__class__.__name__).lower()


def decode(data: bytes, path: str = "") -> tuple[str, list[Problem]]:
    """Decode a note's bytes to text, never failing.

    UTF-8 (a BOM is dropped); UTF-16 when it starts with a UTF-16 BOM; a file with NUL
    bytes in its first 8 KiB is treated as binary and gives empty text. Invalid UTF-8
    bytes become U+FFFD. Each fallback adds one problem naming ``path``.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace"), []
    if b"\x00" in data[:8192]:
        return "", [Problem(path, 0, "binary file (NUL bytes), content skipped", "encoding")]
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        text = data.decode("utf-8-sig", errors="replace")
        line = data.count(b"\n", 0, exc.start) + 1
        return text, [Problem(path, line, "invalid UTF-8 bytes, replaced with U+FFFD", "encoding")]


class Unreadable(OSError):
    """A note file that could not be read now (gone, permission denied, I/O error), which
    may well read fine later; ``problem`` says why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def read_text(root: Path, rel: str) -> tuple[str, list[Problem]]:
    """Read and decode one note; a missing, unreadable or huge file gives ``""`` and a problem."""
    try:
        return _read_text(root, rel)
    except Unreadable as exc:
        return "", [exc.problem]


def _read_text(root: Path, rel: str) -> tuple[str, list[Problem]]:
    """:func:`read_text`, raising :class:`Unreadable` when the file cannot be read now."""
    try:
        data = _read_bytes(os.path.join(root, rel), MAX_NOTE_BYTES + 1)
    except FileNotFoundError:
        raise Unreadable(
            Problem(rel, 0, "file disappeared while reading; listed without its text")
        ) from None
    except OSError as exc:
        raise Unreadable(
            Problem(rel, 0, f"cannot read file: {_why(exc)}; listed without its text")
        ) from None
    if len(data) > MAX_NOTE_BYTES:
        limit = MAX_NOTE_BYTES // (1024 * 1024)
        return "", [Problem(rel, 0, f"larger than {limit} MiB, content skipped")]
    return decode(data, rel)


READ_CHUNK = 64 * 1024
"""Bytes asked of the system per read: a typical note takes one read and one more that
finds the end."""


def _read_bytes(path: str, limit: int) -> bytes:
    """The first ``limit`` bytes of a file (all of a smaller one). Raises OSError.

    Plain ``os.read`` calls: a buffered ``open(path, "rb").read(limit)`` sets aside
    ``limit`` bytes before reading (20 MiB per note here), which made reading a 3 KB
    note cost 85 microseconds instead of 12. Only a regular file is read: anything else
    put where a note was listed (a named pipe, a device) raises OSError "not a regular
    file". It is opened non-blocking first, so that a named pipe cannot make it wait for
    a writer forever; a file another program holds a lease on (Samba does) refuses that,
    and is then opened as usual, which waits for the lease to be let go.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except BlockingIOError:
        fd = os.open(path, os.O_RDONLY)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size < limit:
            chunk = os.read(fd, min(READ_CHUNK, limit - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    finally:
        os.close(fd)


def note_id(rel: str) -> str:
    """A note's id: its vault-relative path without ``.md``, NFC, ``/``-separated."""
    return nfc(rel[:-3])


class LoadedNote(NamedTuple):
    """A parsed note with its identity: id, on-disk path, size and change stamp it was
    read at (see :class:`FileStat`; size :data:`UNREAD` if the file could not be read)."""

    id: str
    path: str
    size: int
    changed_ns: int
    parsed: ParsedNote


def load_note(root: Path, file: FileStat) -> LoadedNote:
    """Read and parse one note; problems from reading and parsing name its path.

    Never raises for anything a file can contain; a parser crash (a bug) is turned into a
    problem too, so one note cannot stop a vault from loading. A file that cannot be read
    now (gone, permission denied) loads empty with size -1, a size no file has, so the
    index reads it again next time instead of keeping it empty until it changes.
    """
    from aikb.parse import parse_note

    size = file.size
    try:
        text, problems = _read_text(root, file.path)
    except Unreadable as exc:
        text, problems, size = "", [exc.problem], UNREAD
    try:
        parsed = parse_note(text)
    except RecursionError:
        parsed = parse_note("")
        problems.append(Problem(file.path, 0, "too deeply nested to parse, content skipped"))
    except Exception as exc:
        parsed = parse_note("")
        problems.append(Problem(file.path, 0, f"could not be parsed ({exc.__class__.__name__})"))
    problems.extend(Problem(file.path, p.line, p.message, p.kind) for p in parsed.problems)
    if problems:
        parsed = _with_problems(parsed, problems)
    return LoadedNote(note_id(file.path), file.path, size, file.changed_ns, parsed)


def _with_problems(parsed: ParsedNote, problems: list[Problem]) -> ParsedNote:
    return parsed._replace(problems=tuple(problems))
