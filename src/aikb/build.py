"""Turning note files into index rows: the parallel, write-free half of building an index.

Workers read and parse notes and compute every row the database will hold for them,
with note-relative numbers where the database assigns ids (a concept is its note's
``seq``-th, 0 being the note itself). The writer in :mod:`aikb.index` only inserts.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from aikb.index import HEADING_SEPARATOR
from aikb.model import Problem
from aikb.normalize import name_key
from aikb.terms import segment
from aikb.vault import FileStat, LoadedNote, gc_paused, load_note, watch_parent, widen_pipe

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

PARALLEL_THRESHOLD = 256
"""Below this many notes to parse, parsing stays in this process (workers cost ~50 ms)."""
BATCH = 256
"""Notes handed to the writer at a time when parsing in this process."""
WORKER_BATCH = 64
"""Most notes a worker parses and sends at a time (about 350 KB of rows)."""

Progress = Callable[[int, int], None]
Row = tuple[object, ...]


class Rows(NamedTuple):
    """Everything one note adds to the index.

    ``note``: ``(id, path, size, changed_ns, body_line, line_count)``.
    ``concepts``: ``(id, seq, level, title, anchor, line, end_line, own_end, parent,
    aliases json, tags json)``, the note first (seq 0).
    ``fts``: ``(names, text)`` stems per concept, same order.
    ``names``: ``(key, name, seq, kind)``.
    ``links``: ``(source seq, kind, target, headings, block, label, line, key)``.
    ``blocks``: ``(id, line, end_line, section)``; ``tags``: ``(key, tag)``.
    """

    note: Row
    concepts: list[Row]
    fts: list[tuple[str, str]]
    names: list[tuple[str, str, int, str]]
    links: list[Row]
    blocks: list[Row]
    tags: list[tuple[str, str]]
    problems: list[Problem]

    @property
    def id(self) -> str:
        """The note id."""
        return str(self.note[0])

    @property
    def path(self) -> str:
        """The vault-relative path of the note file."""
        return str(self.note[1])


def concept_ids(note: LoadedNote) -> list[str]:
    """Ids of a note's concepts: the note id, then ``note#anchor`` for each section."""
    return [note.id, *(f"{note.id}#{s.anchor}" for s in note.parsed.sections)]


def rows_for(note: LoadedNote) -> Rows:
    """Every index row for one parsed note (pure; runs in worker processes)."""
    from aikb.graph import link_name_key

    parsed = note.parsed
    ids = concept_ids(note)
    sections = parsed.sections
    all_tags = sorted({t.name for t in parsed.tags}, key=str.casefold)
    first_child = sections[0].line - 1 if sections else parsed.line_count
    name = note.id.rpartition("/")[2]
    concepts: list[Row] = [
        (
            ids[0],
            0,
            0,
            name,
            None,
            1,
            max(parsed.line_count, 1),
            max(first_child, 1),
            -1,
            _json_list(parsed.aliases),
            _json_list(all_tags),
        )
    ]
    for seq, section in enumerate(sections, 1):
        own_end = section.end_line
        if seq < len(sections) and sections[seq].parent == seq - 1:
            own_end = sections[seq].line - 1
        tags = sorted(
            {t.name for t in parsed.tags if section.line <= t.line <= section.end_line},
            key=str.casefold,
        )
        concepts.append(
            (
                ids[seq],
                seq,
                section.level,
                section.title,
                section.anchor,
                section.line,
                section.end_line,
                own_end,
                section.parent,
                _json_list(section.aliases),
                _json_list(tags),
            )
        )
    links: list[Row] = [
        (
            link.section + 1,
            link.kind,
            link.target,
            HEADING_SEPARATOR.join(link.headings),
            link.block,
            link.label,
            link.line,
            None if link.kind == "external" else link_name_key(link.target),
        )
        for link in parsed.links
    ]
    return Rows(
        note=(note.id, note.path, note.size, note.changed_ns, parsed.body_line, parsed.line_count),
        concepts=concepts,
        fts=fts_rows(note),
        names=name_rows(note),
        links=links,
        blocks=[(b.id, b.line, b.end_line, b.section) for b in parsed.blocks],
        tags=[(t.casefold(), t) for t in all_tags],
        problems=list(parsed.problems),
    )


def _json_list(items: Sequence[str]) -> str:
    """A JSON array of strings, as the ``aliases`` and ``tags`` columns hold them (most
    are empty, which skips the encoder)."""
    return json.dumps(list(items), ensure_ascii=False) if items else "[]"


def name_rows(note: LoadedNote) -> list[tuple[str, str, int, str]]:
    """Lookup names of a note's concepts: ``(name key, name, seq, kind)``, kind being
    ``name`` (file name), ``alias`` (front-matter alias or title, heading alias) or
    ``heading``; one row per distinct key and concept."""
    parsed = note.parsed
    candidates: list[tuple[str, int, str]] = [(note.id.rpartition("/")[2], 0, "name")]
    candidates += [(alias, 0, "alias") for alias in parsed.aliases]
    if parsed.title:
        candidates.append((parsed.title, 0, "alias"))
    for seq, section in enumerate(parsed.sections, 1):
        candidates.append((section.names[0], seq, "heading"))
        candidates += [(extra, seq, "alias") for extra in section.names[1:]]
    seen: set[tuple[str, int]] = set()
    rows = []
    for text, seq, kind in candidates:
        key = name_key(text)
        if key and (key, seq) not in seen:
            seen.add((key, seq))
            rows.append((key, text, seq, kind))
    return rows


def fts_rows(note: LoadedNote) -> list[tuple[str, str]]:
    """Full-text rows of a note's concepts: ``(its names, its own text)``, ``ё`` folded to
    ``е``. A concept's own text runs to its first subsection. SQLite's tokenizer splits
    the words (in C); word forms are matched at query time through the stems of the
    indexed words (see :meth:`aikb.index.Index.fulltext`)."""
    parsed = note.parsed
    lines = parsed.body.split("\n")
    base = parsed.body_line

    def text(first: int, last: int) -> str:
        return fold("\n".join(lines[max(first - base, 0) : max(last - base + 1, 0)]))

    sections = parsed.sections
    first_heading = sections[0].line - 1 if sections else parsed.line_count
    note_names = " ".join([note.id.rpartition("/")[2], *parsed.aliases, parsed.title or ""])
    rows = [(fold(note_names), text(base, first_heading))]
    for index, section in enumerate(sections):
        own_end = section.end_line
        if index + 1 < len(sections) and sections[index + 1].parent == index:
            own_end = sections[index + 1].line - 1
        rows.append((fold(" ".join(section.names)), text(section.line + 1, own_end)))
    return rows


def fold(text: str) -> str:
    """Text as the full-text index stores it: ``ё`` as ``е`` (either case), Chinese and
    Japanese runs as character pairs (:func:`aikb.terms.segment`)."""
    return segment(text.replace("ё", "е").replace("Ё", "Е"))


def prepare(root: Path, file: FileStat) -> Rows:
    """Load, parse and turn into rows one note (runs in worker processes)."""
    return rows_for(load_note(root, file))


def _worker(root: Path, batches: list[list[FileStat]], pipe: Connection) -> None:
    """A worker process: parse ``batches`` in order and send each one's rows to the parent.

    Ctrl-C is left to the parent, which ends its workers as it stops: the terminal sends
    SIGINT to every process of the foreground group, and a worker interrupted on its own
    would print a traceback of its own. The worker starts with SIGINT blocked (see
    :func:`_sigint_blocked`) and ignores it before unblocking it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    watch_parent()
    try:
        with gc_paused():
            for files in batches:
                pipe.send([prepare(root, f) for f in files])
    except (OSError, KeyboardInterrupt):  # the parent is gone (EPIPE) or stopped reading
        pass
    finally:
        pipe.close()


def _in_workers(root: Path, batches: list[list[FileStat]], workers: int) -> Iterator[list[Rows]]:
    """The rows of ``batches``, in order, parsed by ``workers`` child processes; ends early,
    without raising, if a worker cannot start or dies, leaving the rest to the caller.

    Worker ``k`` parses batches ``k``, ``k + workers``, ... and sends each through its own
    pipe, so this process runs no thread: a process pool's feeder and manager threads
    cannot always start (under a process limit a cold build crashed with a traceback, or
    waited forever for a thread that never ran), and forking beside threads is unsafe.
    """
    import multiprocessing

    context = multiprocessing.get_context()
    processes: list[BaseProcess] = []
    pipes: list[Connection] = []
    try:
        for k in range(workers):
            reader, writer = context.Pipe(duplex=False)
            widen_pipe(writer.fileno())  # a whole batch: the worker goes on parsing
            process = context.Process(
                target=_worker,
                args=(root, batches[k::workers], writer),
                name=f"aikb-parse-{k}",
                daemon=True,
            )
            pipes.append(reader)
            try:
                with _sigint_blocked():
                    process.start()
            finally:
                writer.close()  # only the worker writes: its end means EOF here
            processes.append(process)
        for number in range(len(batches)):
            try:
                rows: list[Rows] = pipes[number % workers].recv()
            except (EOFError, OSError):  # the worker died: the caller parses the rest
                return
            yield rows
    except (OSError, RuntimeError):  # a process could not start (limit, memory)
        return
    finally:
        for started in processes:
            if started.is_alive():
                started.kill()
            started.join()
        for reader in pipes:
            reader.close()


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Hold SIGINT back from this thread while the block runs (a Ctrl-C meanwhile arrives
    after it): a worker process started here inherits the blocked signal, so it cannot be
    interrupted before it has set SIGINT aside (see :func:`_worker`). Does nothing where
    signal masks do not exist (Windows)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def prepare_all(
    root: Path, files: list[FileStat], progress: Progress | None = None, jobs: int | None = None
) -> Iterator[list[Rows]]:
    """Rows for every file, in batches, in file order; parsed by worker processes (one per
    core, or ``jobs``) when there are at least :data:`PARALLEL_THRESHOLD` files, else, or
    for whatever the workers could not do (see :func:`_in_workers`), in this process.
    ``progress(done, total)`` is called after each batch."""
    total = len(files)
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    done = 0
    if total >= PARALLEL_THRESHOLD and workers > 1:
        size = max(16, min(WORKER_BATCH, total // (workers * 8) or 16))
        batches = [files[i : i + size] for i in range(0, total, size)]
        for batch in _in_workers(root, batches, workers):
            yield batch
            done += len(batch)
            if progress:
                progress(done, total)
    for start in range(done, total, BATCH):
        yield [prepare(root, f) for f in files[start : start + BATCH]]
        if progress:
            progress(min(start + BATCH, total), total)
