"""The concept graph, kept in SQLite: built from the vault, updated incrementally, queried.

One database per vault lives in the user cache dir (never inside the vault), keyed by
the vault's resolved path; ``--no-cache`` uses an in-memory database with the same code.
Each run stats the note files and re-parses only those whose size or change stamp
(later of mtime and ctime) changed, drops deleted ones, and re-resolves just the links
whose target name could have changed meaning. Commands then answer with indexed
queries; nothing loads every note.

The index stores structure (concepts, names, links, blocks, tags, full-text stems), not
a copy of the notes: text for display is read from the note files when asked for.
Notes and concepts have integer ids inside the database (``nid``, ``cid``); the API
speaks in note ids and wikilink-style concept ids only.

The schema is versioned (:data:`SCHEMA_VERSION`): a database written by another schema
or aikb version, or one that is not a database at all, is rebuilt from scratch.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import os
import re
import sqlite3
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from aikb import __version__
from aikb.model import NOTE_KIND, Backlink, Concept, Link, Problem, ResolvedLink
from aikb.normalize import link_key, nfc, normalize_text
from aikb.vault import UNREAD, FileStat, Listing, gc_paused, printable, read_text, scan

if TYPE_CHECKING:
    from aikb.build import Progress, Row, Rows
    from aikb.graph import Catalog

HEADING_SEPARATOR = "\x1f"
"""Joins a link's heading path in the ``links.headings`` column (no heading contains it)."""


def split_headings(stored: str) -> tuple[str, ...]:
    """A link's heading path as stored in the ``links.headings`` column."""
    return tuple(stored.split(HEADING_SEPARATOR)) if stored else ()


SCHEMA_VERSION = "14"
LOCK_WAIT = 60
"""Seconds to wait for another process that is updating the index (then: in memory)."""
LINK_PART = 5000
"""A full build resolves and inserts its links this many at a time (see
:meth:`Index._finish_build`)."""
PARALLEL_LINKS = 20_000
"""A full build with this many links resolves them in a child process (see
:meth:`Index._finish_build`); forking costs a few milliseconds."""
READ_WAIT = 5
"""Seconds a read waits for a lock (readers are never blocked by writers in WAL mode)."""
PRELOAD_LINKS = 2000
"""Re-resolving more links than this loads every heading at once rather than per note."""
TEXT_CACHE = 256
"""Note files kept in memory once read for display (a ``show`` reads a handful)."""
MAX_FORMS = 64
"""At most this many indexed word forms stand for one query stem."""
MAX_CANDIDATES = 512
"""Recorded word forms of one query stem are checked for still being indexed this many at
a time (about 0.2 ms each)."""
PRUNE_AFTER = 500
"""Edited or deleted notes after which, at least, ``vocab`` drops the words no longer
indexed (see :meth:`Index._count_dropped`)."""
_WORDS = re.compile(r"[^\W_]+")
"""Words as SQLite's unicode61 tokenizer splits them (letters and digits)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS notes(
    nid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, path TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL, changed_ns INTEGER NOT NULL, body_line INTEGER NOT NULL,
    line_count INTEGER NOT NULL, name_key TEXT NOT NULL, path_key TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS concepts(
    cid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, nid INTEGER NOT NULL,
    seq INTEGER NOT NULL, level INTEGER NOT NULL, title TEXT NOT NULL, anchor TEXT,
    line INTEGER NOT NULL, end_line INTEGER NOT NULL, own_end INTEGER NOT NULL,
    parent INTEGER NOT NULL, aliases TEXT NOT NULL, tags TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS names(
    key TEXT NOT NULL, name TEXT NOT NULL, cid INTEGER NOT NULL, nid INTEGER NOT NULL,
    kind TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS links(
    lid INTEGER PRIMARY KEY, nid INTEGER NOT NULL, source INTEGER NOT NULL,
    kind TEXT NOT NULL, target TEXT NOT NULL, headings TEXT NOT NULL, block TEXT,
    label TEXT, line INTEGER NOT NULL, key TEXT, resolved INTEGER, reason TEXT,
    attachment TEXT, candidates TEXT);
CREATE TABLE IF NOT EXISTS blocks(
    nid INTEGER NOT NULL, id TEXT NOT NULL, line INTEGER NOT NULL,
    end_line INTEGER NOT NULL, section INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tags(nid INTEGER NOT NULL, key TEXT NOT NULL, tag TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS attachments(
    path TEXT PRIMARY KEY, name_key TEXT NOT NULL, path_key TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS problems(
    nid INTEGER, path TEXT NOT NULL, line INTEGER NOT NULL, message TEXT NOT NULL,
    kind TEXT NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
    names, body, tokenize='unicode61 remove_diacritics 0', detail=column);
CREATE VIRTUAL TABLE IF NOT EXISTS fts_terms USING fts5vocab(fts, 'row');
CREATE TABLE IF NOT EXISTS vocab(term TEXT PRIMARY KEY, stem TEXT NOT NULL) WITHOUT ROWID;
"""

_INDEXES = (
    "CREATE INDEX IF NOT EXISTS concepts_note ON concepts(nid, seq)",
    "CREATE INDEX IF NOT EXISTS concepts_id_nocase ON concepts(id COLLATE NOCASE)",
    "CREATE INDEX IF NOT EXISTS notes_name ON notes(name_key)",
    "CREATE INDEX IF NOT EXISTS notes_path ON notes(path_key)",
    "CREATE INDEX IF NOT EXISTS attachments_name ON attachments(name_key)",
    "CREATE INDEX IF NOT EXISTS attachments_path ON attachments(path_key)",
    "CREATE INDEX IF NOT EXISTS names_key ON names(key)",
    "CREATE INDEX IF NOT EXISTS names_note ON names(nid)",
    "CREATE INDEX IF NOT EXISTS links_note ON links(nid, line)",
    "CREATE INDEX IF NOT EXISTS links_resolved ON links(resolved)",
    "CREATE INDEX IF NOT EXISTS links_key ON links(key)",
    "CREATE INDEX IF NOT EXISTS blocks_note ON blocks(nid)",
    "CREATE INDEX IF NOT EXISTS tags_key ON tags(key)",
    "CREATE INDEX IF NOT EXISTS tags_note ON tags(nid)",
    "CREATE INDEX IF NOT EXISTS problems_note ON problems(nid)",
    "CREATE INDEX IF NOT EXISTS vocab_stem ON vocab(stem)",
)
"""Secondary indexes; a cold build creates them after the bulk insert."""

_TABLES = (
    "meta",
    "notes",
    "concepts",
    "names",
    "links",
    "blocks",
    "tags",
    "attachments",
    "problems",
    "fts_terms",
    "fts",
    "vocab",
)

_CONCEPTS = (
    "SELECT c.cid, c.id, c.nid, n.id, n.path, c.seq, c.level, c.title, c.line, c.end_line,"
    " c.parent, c.aliases, c.tags FROM concepts c JOIN notes n ON n.nid = c.nid"
)
_LINKS = (
    "SELECT s.id, l.kind, l.target, l.headings, l.block, l.label, l.line, r.id, l.reason,"
    " l.attachment, l.candidates, n.id, n.path FROM links l"
    " JOIN concepts s ON s.cid = l.source JOIN notes n ON n.nid = l.nid"
    " LEFT JOIN concepts r ON r.cid = l.resolved"
)


class CacheUnavailable(Exception):
    """The on-disk index cannot be used (unwritable, locked, corrupt beyond repair)."""


class SyncReport:
    """What one :meth:`Index.sync` did: notes seen, parsed, removed, links re-resolved,
    notes whose file could not be read, and the problems met while parsing."""

    __slots__ = ("parsed", "problems", "relinked", "removed", "total", "unread")

    def __init__(self, total: int = 0, problems: list[Problem] | None = None) -> None:
        self.total = total
        self.parsed = 0
        self.removed = 0
        self.relinked = 0
        self.unread = 0
        self.problems: list[Problem] = problems if problems is not None else []


class Changes(NamedTuple):
    """How a vault listing differs from a stored index, found without the index's write
    lock (by :func:`changes_since`, in the background while a command imports).

    ``snapshot`` is the saved listing digest the comparison was made against; ``notes``
    the number of notes listed. ``todo`` (new and changed notes, by path) and ``removed``
    (paths of stored notes that are gone) are None when the index already holds this
    listing. :meth:`Index.sync` trusts them only if the saved digest is still
    ``snapshot`` when it reads it.

    With ``todo``, the rest of what an update needs of the listing comes along, so that
    the listing itself need not (at 10,000 notes, pickling it and reading it back took
    about 16 ms of a command run right after an edit): its ``digest``, ``attachments``
    and ``problems``.
    """

    snapshot: str
    notes: int
    todo: list[FileStat] | None = None
    removed: list[str] | None = None
    digest: str = ""
    attachments: Sequence[str] = ()
    problems: Sequence[Problem] = ()


class _Listed(NamedTuple):
    """What :meth:`Index.sync` uses of a listing, taken from it or from the
    :class:`Changes` that stand for it: note count, digest, attachments, problems."""

    notes: int
    digest: str
    attachments: Sequence[str]
    problems: Sequence[Problem]

    @classmethod
    def of(cls, listing: Listing) -> _Listed:
        return cls(len(listing.notes), _digest(listing), listing.attachments, listing.problems)


def survey(root: Path, path: Path | None) -> tuple[Listing | None, Changes | None]:
    """List the vault and compare the listing with the index database at ``path`` (runs
    in the background: :func:`aikb.vault.in_background`). Returns ``(listing, changes)``;
    the listing is left out (None) when the comparison could be made, which spares
    sending it back (6.5 MB at 100,000 notes): the changes tell what to do."""
    listing = scan(root)
    changes = None if path is None else changes_since(path, root, listing)
    return (listing if changes is None else None), changes


def changes_since(path: Path, root: Path, listing: Listing) -> Changes | None:
    """Compare ``listing`` with the index database at ``path`` (of the vault ``root``),
    read-only and in one read transaction; None when it cannot tell (no database, another
    schema or vault, rows missing, locked or unreadable): the caller then compares under
    the write lock itself."""
    if not_a_file(path):
        return None
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=0.1)
    except (sqlite3.Error, ValueError):
        return None
    try:
        conn.isolation_level = None
        conn.execute("BEGIN")
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if not _stamp_matches(meta, root):
            return None
        saved = meta.get("snapshot")
        if not isinstance(saved, str) or not _counts_agree(conn):
            return None
        digest = _digest(listing)
        if saved == digest:
            return Changes(saved, len(listing.notes))
        todo, removed = _compare(conn, listing.notes)
        return Changes(
            saved,
            len(listing.notes),
            todo,
            removed,
            digest,
            listing.attachments,
            listing.problems,
        )
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def _counts_agree(conn: sqlite3.Connection) -> bool:
    """Whether the notes the last update stored still have their rows and concept rows
    (a damaged database may have lost some: then everything is parsed again)."""
    counts = conn.execute(
        "SELECT (SELECT count(*) FROM notes), (SELECT count(*) FROM concepts WHERE seq = 0),"
        " (SELECT value FROM meta WHERE key = 'notes')"
    ).fetchone()
    return bool(counts[0] == counts[1] == int(counts[2] or -1))


def _compare(
    conn: sqlite3.Connection, files: dict[str, tuple[int, int]]
) -> tuple[list[FileStat], list[str]]:
    """``(notes to parse, sorted by path; paths of stored notes now gone)`` for a listing.

    Stamps are compared as ``(size, changed_ns)`` tuples sliced from the fetched rows,
    with no Python-level loop over the rows: every update starts with this (10,000 notes:
    about 17 ms, where building ``"size changed_ns"`` strings took 36).
    """
    rows = conn.execute("SELECT path, size, changed_ns FROM notes").fetchall()
    stored = dict(zip([row[0] for row in rows], [row[1:] for row in rows], strict=True))
    todo = sorted(
        FileStat(path, *stamp) for path, stamp in files.items() if stored.get(path) != stamp
    )
    return todo, [path for path in stored if path not in files]


def database_path(root: Path, directory: Path) -> Path:
    """The database file for the vault at ``root``: ``<dir>/<name>-<hash of path>.sqlite3``."""
    resolved = str(root.resolve())
    digest = hashlib.sha256(resolved.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", root.name)[:40].strip("-") or "vault"
    return directory / f"{slug}-{digest}.sqlite3"


class Index:
    """A vault's concept graph in SQLite. Create with :meth:`open`, then :meth:`sync`.

    Query methods return model objects (:class:`~aikb.model.Concept`,
    :class:`~aikb.model.ResolvedLink`, :class:`~aikb.model.Backlink`) and take concept
    ids such as ``AI-flow#Fine-tuning (flow)``.
    """

    def __init__(self, conn: sqlite3.Connection, root: Path, path: Path | None) -> None:
        self.conn = conn
        self.root = root
        self.path = path
        self._notes: dict[int, list[Concept]] = {}
        self._texts: dict[str, list[str]] = {}
        self._catalog: Catalog | None = None
        self.rebuilt = False
        """Whether a :meth:`sync` of this object wrote every note into emptied tables."""
        self.updated = False
        """Whether a :meth:`sync` of this object changed the index (parsed or dropped a
        note, or recorded another listing)."""

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open(cls, root: Path, path: Path | None, threads: bool = False) -> Index:
        """Open (creating or rebuilding as needed) the index of ``root`` at ``path``.

        ``path=None`` gives an in-memory index. ``threads=True`` lets other threads use
        the connection (SQLite serializes the calls; the TUI searches in a worker thread).
        Raises :class:`CacheUnavailable` when the file cannot be created or used; the
        caller then falls back to memory.
        """
        if path is None:
            memory = sqlite3.connect(
                ":memory:", isolation_level=None, check_same_thread=not threads
            )
            index = cls(memory, root, None)
            memory.execute("BEGIN IMMEDIATE")
            with index._committed():
                index._create()
            return index
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheUnavailable(
                f"cannot create cache folder {path.parent}: {exc.strerror}"
            ) from None
        odd = not_a_file(path)
        if odd is not None:
            raise CacheUnavailable(f"index file {printable(odd)} is not a regular file")
        for attempt in range(2):
            conn = None
            try:
                conn = sqlite3.connect(
                    str(path), timeout=30, isolation_level=None, check_same_thread=not threads
                )
                index = cls(conn, root, path)
                index._prepare_file()
                return index
            except sqlite3.DatabaseError as exc:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                if attempt or not _is_corruption(exc):
                    raise CacheUnavailable(f"cannot use index {path}: {exc}") from None
                remove_database(path)
        raise CacheUnavailable(f"cannot use index {path}")  # pragma: no cover

    def _prepare_file(self) -> None:
        """Set the connection up and make sure the schema is this version's.

        A new or outdated database is (re)created under the write lock, after reading its
        stamp again: several processes starting on a new vault at once create it once,
        and a process that finds another one building waits for it (up to
        :data:`LOCK_WAIT` seconds) instead of giving up.
        """
        conn = self.conn
        conn.execute(f"PRAGMA busy_timeout = {LOCK_WAIT * 1000}")
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if mode is None or str(mode[0]).lower() != "wal":
                raise sqlite3.DatabaseError("cannot switch to WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            # 48 MiB: big builds spill less than with the default 2 MiB. A cold build of
            # 10,000 notes took as long as with 64 MiB, and peaked at 188 MB, not 205.
            conn.execute("PRAGMA cache_size = -49152")
            if self._stamped():
                return
            _begin_immediate(conn)
            with self._committed():
                if not self._stamped():  # nobody created it while this one waited
                    for table in _TABLES:
                        conn.execute(f"DROP TABLE IF EXISTS {table}")
                    self._create()
        finally:
            conn.execute(f"PRAGMA busy_timeout = {READ_WAIT * 1000}")

    @contextlib.contextmanager
    def _committed(self) -> Iterator[None]:
        """Commit the open transaction when the block ends, or roll it back if it raises."""
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def _stamped(self) -> bool:
        """Whether the database holds this schema version, for this vault."""
        stamp: dict[str, str] = {}
        with contextlib.suppress(sqlite3.OperationalError):
            stamp = dict(self.conn.execute("SELECT key, value FROM meta").fetchall())
        return _stamp_matches(stamp, self.root)

    def _create(self) -> None:
        """Create the tables, indexes and stamp, inside the caller's write transaction."""
        conn = self.conn
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        self._create_indexes()
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (_version_tag(),))
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('root', ?)", (_root_stamp(self.root),))

    def _create_indexes(self, links: bool | None = None) -> None:
        """Create the secondary indexes: all of them, or only those of the links table
        (``links=True``) or of the other tables (``links=False``)."""
        for statement in _INDEXES:
            if links is None or (" ON links(" in statement) == links:
                self.conn.execute(statement)

    def _drop_indexes(self) -> None:
        for statement in _INDEXES:
            name = statement.split("EXISTS ")[1].split(" ")[0]
            self.conn.execute(f"DROP INDEX IF EXISTS {name}")

    def close(self) -> None:
        """Close the database connection."""
        self.conn.close()

    # -- building --------------------------------------------------------------------------

    def sync(
        self,
        progress: Progress | None = None,
        jobs: int | None = None,
        waiting: Callable[[], None] | None = None,
        listing: Listing | None = None,
        full: bool = False,
        changes: Changes | None = None,
    ) -> SyncReport:
        """Bring the index up to date with the files.

        Parses new and changed notes, drops deleted ones and re-resolves the links whose
        meaning may have changed. Cheap when nothing changed: one stat per note file.
        ``progress(done, total)`` is called while parsing; ``jobs`` caps the worker
        processes (default: one per core). Safe against a concurrent sync in another
        process: the write lock is taken before deciding what to do; if another process
        holds it, ``waiting()`` is called once and the lock is awaited up to
        :data:`LOCK_WAIT` seconds (then :class:`sqlite3.OperationalError` is raised).
        The report's problems are those of the files parsed now, and listing problems
        (unreadable folders, undecodable names) when they changed. ``listing`` is the
        vault's :func:`~aikb.vault.scan`, if the caller has just made it (else it is made
        here, unless ``changes`` say there is nothing to do). ``full`` parses every note
        again (``aikb index --rebuild``), inside the database and under its write lock,
        so processes reading it meanwhile are never left with a deleted file. ``changes``
        is what :func:`changes_since` found for ``listing``, if the caller had it
        compared in the background (see :func:`survey`); given without ``listing``,
        changes that name notes to parse stand for the listing they came from.
        """
        saved = self._saved_snapshot()
        checked = changes is not None and not full and saved == changes.snapshot
        if checked and changes is not None and changes.todo is None:
            return SyncReport(changes.notes)  # compared with this very state of the index
        if checked and changes is not None and changes.digest and listing is None:
            listed = _Listed(changes.notes, changes.digest, changes.attachments, changes.problems)
        else:  # the changes, if any, were about another state: list and compare here
            if listing is None:
                listing, changes = scan(self.root), None
            listed = _Listed.of(listing)
        report = SyncReport(listed.notes)
        complete = checked or (not full and self._complete())
        if complete and saved == listed.digest:
            return report
        conn = self.conn
        self._begin_write(waiting)
        try:
            with gc_paused(), self._committed():
                now = self._saved_snapshot()
                if now != saved:  # another process updated it meanwhile
                    complete = not full and self._complete()
                    if complete and now == listed.digest:
                        return report  # to this very listing (several commands on a new vault)
                if not complete or changes is None or changes.snapshot != now:
                    changes = None  # compared with another state of the index: compare again
                    if listing is None:  # only the changes came: list again
                        listing = scan(self.root)
                        listed = _Listed.of(listing)
                        report.total = listed.notes
                report.problems.extend(listed.problems)
                if not complete:
                    conn.execute("DELETE FROM notes")  # rows were lost: parse everything again
                conn.execute("DELETE FROM problems WHERE nid IS NULL")
                self.updated = True
                self._update(
                    {} if listing is None else listing.notes,
                    set(listed.attachments),
                    report,
                    progress,
                    jobs,
                    changes,
                )
                conn.executemany(
                    "INSERT INTO problems VALUES (NULL,?,?,?,?)",
                    [(p.path, p.line, p.message, p.kind) for p in listed.problems],
                )
                conn.execute("DELETE FROM meta WHERE key = 'names'")
                # A note that could not be read is read again next time, listing unchanged
                # (its stored size, UNREAD, puts it among the notes to parse every time).
                saved_now = "" if report.unread else listed.digest
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('snapshot', ?)", (saved_now,))
                conn.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('notes', (SELECT count(*) FROM notes))"
                )
        finally:
            self._notes.clear()
            self._texts.clear()
            self._catalog = None
        return report

    def _update(
        self,
        files: dict[str, tuple[int, int]],
        attachments: set[str],
        report: SyncReport,
        progress: Progress | None,
        jobs: int | None,
        changes: Changes | None = None,
    ) -> None:
        from aikb.build import prepare_all
        from aikb.graph import link_name_key

        conn = self.conn
        if changes is not None and changes.todo is not None and changes.removed is not None:
            todo, removed = changes.todo, changes.removed  # still true: checked by sync
        else:
            todo, removed = _compare(conn, files)
        full = not conn.execute("SELECT 1 FROM notes LIMIT 1").fetchone()
        old_attachments = {r[0] for r in conn.execute("SELECT path FROM attachments")}
        affected = {link_name_key(p) for p in removed}
        affected.update(link_name_key(f.path) for f in todo)
        affected.update(link_key(p.rpartition("/")[2]) for p in old_attachments ^ attachments)
        dropped = 0
        for path in () if full else [*removed, *(f.path for f in todo)]:
            found = conn.execute("SELECT nid FROM notes WHERE path = ?", (path,)).fetchone()
            if found is not None:
                self._delete_note(found[0])
                dropped += 1
        if dropped:
            self._count_dropped(dropped)
        if old_attachments != attachments:
            conn.execute("DELETE FROM attachments")
            conn.executemany(
                "INSERT INTO attachments VALUES (?,?,?)",
                [(p, *_keys_of(p)) for p in sorted(attachments)],
            )
        taken: dict[str, str] = {}  # id -> path, written by this update; stored: looked up
        changed: list[int] = []
        deferred: list[Row] | None = None
        texts: list[str] = []
        if full:
            for table in (
                "concepts",
                "names",
                "links",
                "blocks",
                "tags",
                "problems",
                "fts",
                "vocab",
            ):
                conn.execute(f"DELETE FROM {table}")  # leftovers of a damaged database
            self._drop_indexes()  # bulk insert first, index once at the end
            deferred = []
        for batch in prepare_all(self.root, todo, progress, jobs):
            kept = []
            for rows in batch:
                # Two files with one note id (names that differ only in Unicode form, or in
                # the case of ".md"): the first path in sorted order is the note, whatever
                # order the files came in, as in a full build.
                other = taken.get(rows.id)
                stored = None if other is not None or full else self._stored_note(rows.id)
                if stored is not None:
                    nid, other = stored
                    if rows.path < other:  # the new file is the note: the stored one goes
                        self._delete_note(nid)
                        self._skip_twin(other, rows.path, rows.id, report)
                        other = None
                if other is not None:
                    self._skip_twin(rows.path, other, rows.id, report)
                    continue
                taken[rows.id] = rows.path
                kept.append(rows)
                if rows.note[2] == UNREAD:
                    report.unread += 1
                report.problems.extend(rows.problems)
                if not full:
                    texts.extend(text for pair in rows.fts for text in pair)
            changed.extend(self._write(kept, deferred))
        report.parsed = len(todo)
        report.removed = len(removed)
        self.rebuilt = self.rebuilt or full
        if deferred is not None:
            report.relinked = self._finish_build(deferred)
        else:
            self._add_words(texts)
            report.relinked = self._resolve(affected, changed)

    def _stored_note(self, note_id: str) -> tuple[int, str] | None:
        """``(nid, file path)`` of the stored note with this id, if there is one."""
        row = self.conn.execute("SELECT nid, path FROM notes WHERE id = ?", (note_id,)).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def _skip_twin(self, path: str, kept: str, note_id: str, report: SyncReport) -> None:
        """Report ``path`` as skipped: ``kept`` is the file of note ``note_id``."""
        message = f"same note id ({note_id}) as {kept}; skipped"
        if nfc(path) == nfc(kept):
            message += " (the same name in another Unicode form)"
        skipped = Problem(path, 0, message, "duplicate note")
        report.problems.append(skipped)
        self.conn.execute("INSERT INTO problems VALUES (NULL,?,?,?,?)", (*skipped,))

    def _saved_snapshot(self) -> str | None:
        """The digest of the listing saved by the last update (see :func:`_digest`)."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'snapshot'").fetchone()
        return row[0] if row is not None and isinstance(row[0], str) else None

    def _complete(self) -> bool:
        """Whether the notes the last update stored still have their rows and concept rows
        (a damaged database may have lost some: then everything is parsed again)."""
        return _counts_agree(self.conn)

    def _begin_write(self, waiting: Callable[[], None] | None) -> None:
        """Take the write lock; when another process holds it, say so and wait for it."""
        conn = self.conn
        if self.path is None:
            conn.execute("BEGIN IMMEDIATE")
            return
        try:
            _begin_immediate(conn, waiting)
        finally:
            conn.execute(f"PRAGMA busy_timeout = {READ_WAIT * 1000}")

    def _delete_note(self, nid: int) -> None:
        conn = self.conn
        conn.execute(
            "DELETE FROM fts WHERE rowid IN (SELECT cid FROM concepts WHERE nid = ?)", (nid,)
        )
        for table in ("concepts", "names", "links", "blocks", "tags", "problems", "notes"):
            conn.execute(f"DELETE FROM {table} WHERE nid = ?", (nid,))

    def _write(self, batch: list[Rows], defer_links: list[Row] | None = None) -> list[int]:
        """Insert a batch of notes, one ``executemany`` per table; returns their nids.

        With ``defer_links`` (a full build), link rows are appended there instead, to be
        inserted already resolved once every note is known (no second pass of updates).
        """
        conn = self.conn
        nid = int(conn.execute("SELECT coalesce(max(nid), 0) FROM notes").fetchone()[0]) + 1
        cid = int(conn.execute("SELECT coalesce(max(cid), 0) FROM concepts").fetchone()[0]) + 1
        notes: list[Row] = []
        concepts: list[Row] = []
        fts: list[Row] = []
        names: list[Row] = []
        links: list[Row] = []
        blocks: list[Row] = []
        tags: list[Row] = []
        problems: list[Row] = []
        nids = []
        for rows in batch:
            nids.append(nid)
            notes.append((nid, *rows.note, *_keys_of(rows.id)))
            for concept, text in zip(rows.concepts, rows.fts, strict=True):
                concepts.append((cid + int(str(concept[1])), concept[0], nid, *concept[1:]))
                fts.append((cid + int(str(concept[1])), *text))
            names.extend((key, name, cid + seq, nid, kind) for key, name, seq, kind in rows.names)
            links.extend((nid, cid + int(str(link[0])), *link[1:]) for link in rows.links)
            blocks.extend((nid, *block) for block in rows.blocks)
            tags.extend((nid, *tag) for tag in rows.tags)
            problems.extend((nid, p.path, p.line, p.message, p.kind) for p in rows.problems)
            nid += 1
            cid += len(rows.concepts)
        conn.executemany("INSERT INTO notes VALUES (?,?,?,?,?,?,?,?,?)", notes)
        conn.executemany("INSERT INTO concepts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", concepts)
        conn.executemany("INSERT INTO fts(rowid, names, body) VALUES (?,?,?)", fts)
        conn.executemany("INSERT INTO names VALUES (?,?,?,?,?)", names)
        if defer_links is not None:
            defer_links.extend(links)
        else:
            conn.executemany(
                "INSERT INTO links(nid, source, kind, target, headings, block, label, line, key)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                links,
            )
        conn.executemany("INSERT INTO blocks VALUES (?,?,?,?,?)", blocks)
        conn.executemany("INSERT INTO tags VALUES (?,?,?)", tags)
        conn.executemany("INSERT INTO problems VALUES (?,?,?,?,?)", problems)
        return nids

    def _finish_build(self, links: list[Row]) -> int:
        """End a full build: resolve its links against the complete catalog and insert
        them, record the words' stems and create the indexes; returns the number of links.

        ``links`` are rows as built by :meth:`_write` (nid, source cid, kind, target,
        headings, block, label, line, key); the list is emptied. They are resolved
        :data:`LINK_PART` at a time; from :data:`PARALLEL_LINKS` links on, in a forked
        child (the parse workers are done by then, so the second core was idle), while
        this process records the words and indexes the other tables, then inserts each
        part as it arrives. At 10,000 notes (115,000 links) the child takes 2 s for all
        of them; this process is ready for the first part after 1 s and has inserted the
        last 0.1 s after the child is done.
        """
        from aikb.vault import ChildParts, in_child_parts

        conn = self.conn
        catalog = self.catalog(preload=True)
        cids: dict[str, int] = dict(conn.execute("SELECT id, cid FROM concepts").fetchall())
        notes: dict[int, str] = dict(conn.execute("SELECT nid, id FROM notes").fetchall())
        total = len(links)
        chunks = [links[start : start + LINK_PART] for start in range(0, total, LINK_PART)]
        links.clear()

        def resolve(number: int) -> list[tuple[int | None, str | None, str | None, str | None]]:
            return _resolutions(catalog, cids, notes, chunks[number])

        if total >= PARALLEL_LINKS:
            parts = in_child_parts(resolve, len(chunks))
        else:
            parts = ChildParts(resolve, len(chunks))  # all here, when asked for
        insert = (
            "INSERT INTO links(nid, source, kind, target, headings, block, label, line, key,"
            " resolved, reason, attachment, candidates) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
        )
        with parts:
            self._add_words(None)
            self._create_indexes(links=False)
            for number, resolved in enumerate(parts):  # in file order: ids order a line's links
                rows = [(*row, *found) for row, found in zip(chunks[number], resolved, strict=True)]
                chunks[number] = []  # freed as written
                conn.executemany(insert, rows)
        self._create_indexes(links=True)
        return total

    def _resolve(self, affected: set[str], changed: list[int]) -> int:
        """Re-resolve the links written in the ``changed`` notes and those whose target file
        name key is in ``affected``."""
        conn = self.conn
        select = (
            "SELECT l.lid, n.id, l.kind, l.target, l.headings, l.block FROM links l"
            " JOIN notes n ON n.nid = l.nid WHERE l.kind != 'external'"
        )
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS wanted_keys(key TEXT PRIMARY KEY)")
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS wanted_notes(nid INTEGER PRIMARY KEY)")
        conn.execute("DELETE FROM wanted_keys")
        conn.execute("DELETE FROM wanted_notes")
        conn.executemany("INSERT OR IGNORE INTO wanted_keys VALUES (?)", [(k,) for k in affected])
        conn.executemany("INSERT OR IGNORE INTO wanted_notes VALUES (?)", [(n,) for n in changed])
        rows = conn.execute(
            select + " AND (l.key IN (SELECT key FROM wanted_keys)"
            " OR l.nid IN (SELECT nid FROM wanted_notes))"
        ).fetchall()
        if not rows:
            return 0
        cids: dict[str, int | None] = {}
        catalog = self.catalog(preload=len(rows) > PRELOAD_LINKS)
        updates = []
        for lid, note, kind, target, headings, block in rows:
            found = catalog.resolve(Link(kind, target, split_headings(headings), block), note)
            resolved = None
            if found.concept is not None:
                resolved = cids.get(found.concept)
                if resolved is None:
                    row = conn.execute(
                        "SELECT cid FROM concepts WHERE id = ?", (found.concept,)
                    ).fetchone()
                    resolved = cids[found.concept] = row[0] if row else None
            candidates = json.dumps(list(found.candidates)) if found.candidates else None
            updates.append((resolved, found.reason, found.attachment, candidates, lid))
        conn.executemany(
            "UPDATE links SET resolved = ?, reason = ?, attachment = ?,"
            " candidates = ? WHERE lid = ?",
            updates,
        )
        return len(updates)

    def catalog(self, preload: bool = False) -> Catalog:
        """A :class:`~aikb.graph.Catalog` over this index; headings and blocks are loaded
        per note on demand, or all at once with ``preload``."""
        from aikb.graph import BlockRef, Catalog, HeadingRef, MemoryNames

        conn = self.conn
        heading_map: dict[str, list[HeadingRef]] | None = None
        block_map: dict[str, list[BlockRef]] | None = None
        if preload:
            heading_map, block_map = {}, {}
            for note, seq, level, title, parent, anchor in conn.execute(
                "SELECT n.id, c.seq, c.level, c.title, c.parent, c.anchor FROM concepts c"
                " JOIN notes n ON n.nid = c.nid WHERE c.seq > 0 ORDER BY c.nid, c.seq"
            ):
                heading_map.setdefault(note, []).append(
                    HeadingRef(seq - 1, level, title, parent, anchor)
                )
            for note, block_id, section in conn.execute(
                "SELECT n.id, b.id, b.section FROM blocks b JOIN notes n ON n.nid = b.nid"
                " ORDER BY b.nid, b.line"
            ):
                block_map.setdefault(note, []).append(BlockRef(block_id, section))

        def headings(note: str) -> list[HeadingRef]:
            if heading_map is not None:
                return heading_map.get(note, [])
            return [
                HeadingRef(seq - 1, level, title, parent, anchor)
                for seq, level, title, parent, anchor in conn.execute(
                    "SELECT c.seq, c.level, c.title, c.parent, c.anchor FROM concepts c"
                    " JOIN notes n ON n.nid = c.nid WHERE n.id = ? AND c.seq > 0"
                    " ORDER BY c.seq",
                    (note,),
                )
            ]

        def blocks(note: str) -> list[BlockRef]:
            if block_map is not None:
                return block_map.get(note, [])
            return [
                BlockRef(b, s)
                for b, s in conn.execute(
                    "SELECT b.id, b.section FROM blocks b JOIN notes n ON n.nid = b.nid"
                    " WHERE n.id = ? ORDER BY b.line",
                    (note,),
                )
            ]

        if preload:
            notes = [r[0] for r in conn.execute("SELECT id FROM notes")]
            attachments = [r[0] for r in conn.execute("SELECT path FROM attachments")]
            return Catalog(MemoryNames(notes, attachments), headings, blocks)
        return Catalog(_DatabaseNames(conn), headings, blocks)

    def damage(self) -> str | None:
        """What SQLite's integrity checks find wrong with the database (pages and the
        full-text index), or None. Reads the whole database: for ``aikb index``, not for
        every command."""
        try:
            rows = [str(r[0]) for r in self.conn.execute("PRAGMA quick_check")]
            if rows != ["ok"]:
                lines = [line for line in "\n".join(rows).splitlines() if "***" not in line]
                return (lines[0] if lines else "damaged")[:100]
            self.conn.execute("INSERT INTO fts(fts, rank) VALUES ('integrity-check', 1)")
        except sqlite3.DatabaseError as exc:
            return str(exc)
        return None

    # -- concepts ----------------------------------------------------------------------------

    def _note_concepts(self, nid: int) -> list[Concept]:
        """All concepts of one note, by seq (cached)."""
        found = self._notes.get(nid)
        if found is None:
            rows = self.conn.execute(
                _CONCEPTS + " WHERE c.nid = ? ORDER BY c.seq", (nid,)
            ).fetchall()
            names: dict[int, list[str]] = {}
            for cid, name in self.conn.execute(
                "SELECT cid, name FROM names WHERE nid = ? ORDER BY rowid", (nid,)
            ):
                names.setdefault(cid, []).append(name)
            found = self._notes[nid] = _build_concepts(rows, names)
        return found

    def _by_cid(self, cid: int) -> Concept | None:
        row = self.conn.execute("SELECT nid, seq FROM concepts WHERE cid = ?", (cid,)).fetchone()
        if row is None:
            return None
        concepts = self._note_concepts(row[0])
        return concepts[row[1]] if row[1] < len(concepts) else None

    def concept(self, concept_id: str) -> Concept | None:
        """The concept with exactly this id, or None."""
        row = self.conn.execute("SELECT cid FROM concepts WHERE id = ?", (concept_id,)).fetchone()
        return self._by_cid(row[0]) if row else None

    def concept_by_key(self, text: str) -> Concept | None:
        """The concept whose id equals ``text``, exactly or ignoring ASCII case, or None."""
        found = self.concept(text)
        if found:
            return found
        row = self.conn.execute(
            "SELECT cid FROM concepts WHERE id = ? COLLATE NOCASE ORDER BY seq LIMIT 1", (text,)
        ).fetchone()
        return self._by_cid(row[0]) if row else None

    def by_name(self, key: str, limit: int = -1) -> list[tuple[Concept, str, str]]:
        """Concepts having a name with this :func:`~aikb.normalize.name_key`:
        ``(concept, name as written, kind)``, kind being ``name``, ``alias`` or ``heading``;
        notes first, a note with this file name before one with it as an alias (as in
        Obsidian, where no alias ever wins over a file name), then higher headings, then
        by path and line; at most ``limit``."""
        out = []
        for name, cid, kind in self.conn.execute(
            "SELECT a.name, a.cid, a.kind FROM names a JOIN concepts c ON c.cid = a.cid"
            " JOIN notes n ON n.nid = a.nid WHERE a.key = ?"
            " ORDER BY c.seq > 0, a.kind != 'name', c.level, n.path, c.line LIMIT ?",
            (key, limit),
        ).fetchall():
            concept = self._by_cid(cid)
            if concept:
                out.append((concept, name, kind))
        return out

    def complete(self, prefix: str, limit: int = 100) -> list[str]:
        """Names and aliases (as written) whose name key starts with ``prefix``'s, for
        shell completion; one per key, in key order."""
        from aikb.normalize import name_key

        start = name_key(prefix)
        rows = self.conn.execute(
            "SELECT min(name) FROM names WHERE key >= ? AND key < ? GROUP BY key"
            " ORDER BY key LIMIT ?",
            (start, start + "\U0010ffff", limit),
        )
        return [r[0] for r in rows]

    def name_keys_starting(self, prefix: str, limit: int = 50) -> list[str]:
        """Distinct name keys that start with ``prefix`` (a name key), shortest first."""
        rows = self.conn.execute(
            "SELECT DISTINCT key FROM names WHERE key >= ? AND key < ?"
            " ORDER BY length(key), key LIMIT ?",
            (prefix, prefix + "\U0010ffff", limit),
        )
        return [r[0] for r in rows]

    def name_count(self, key: str) -> int:
        """How many concepts have a name with this key."""
        row = self.conn.execute(
            "SELECT count(DISTINCT cid) FROM names WHERE key = ?", (key,)
        ).fetchone()
        return int(row[0])

    def name_keys(self) -> list[str]:
        """Every distinct name key (for fuzzy matching); cached in the database until the
        next update, so a lookup reads one row instead of every name."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'names'").fetchone()
        if row is not None:
            with contextlib.suppress(EOFError, ValueError, TypeError):
                keys = marshal.loads(row[0])
                if isinstance(keys, list):
                    return keys
        keys = [r[0] for r in self.conn.execute("SELECT DISTINCT key FROM names")]
        with contextlib.suppress(sqlite3.Error):  # a read-only or busy cache still answers
            self.conn.execute(
                "INSERT OR REPLACE INTO meta VALUES ('names', ?)", (marshal.dumps(keys),)
            )
        return keys

    def note_concepts(self, note: str) -> list[Concept]:
        """A note's concepts in file order: the note itself, then its sections."""
        return list(self._note_concepts(self._nid(note)))

    def body_line(self, note: str) -> int:
        """The file line where a note's body starts (after its front matter)."""
        row = self.conn.execute("SELECT body_line FROM notes WHERE id = ?", (note,)).fetchone()
        return int(row[0]) if row else 1

    def children(self, concept: Concept) -> list[Concept]:
        """Direct subsections of a concept (top-level sections for a note), in file order."""
        concepts = self._note_concepts(self._nid(concept.note))
        return [c for c in concepts[1:] if c.parent == concept.id]

    def concepts(self, notes_only: bool = False, tag: str | None = None) -> list[Concept]:
        """All concepts in note id then file order; only notes, and/or only concepts carrying
        ``tag`` (a nested tag ``a/b`` matches ``a``; case-insensitive)."""
        where = " WHERE c.seq = 0" if notes_only else ""
        rows = self.conn.execute(_CONCEPTS + where + " ORDER BY n.id, c.seq").fetchall()
        names: dict[int, list[str]] = {}
        for cid, name in self.conn.execute("SELECT cid, name FROM names ORDER BY rowid"):
            names.setdefault(cid, []).append(name)
        out: list[Concept] = []
        start = 0
        for end in range(1, len(rows) + 1):
            if end == len(rows) or rows[end][2] != rows[start][2]:  # the next note begins
                out.extend(_build_concepts(rows[start:end], names))
                start = end
        if tag:
            want = tag.lstrip("#").casefold()
            out = [c for c in out if any(_tag_matches(t, want) for t in c.tags)]
        return out

    def note_count(self) -> int:
        """Number of notes in the index."""
        return int(self.conn.execute("SELECT count(*) FROM notes").fetchone()[0])

    def tags(self) -> list[str]:
        """Every tag in the vault, as first written, sorted case-insensitively."""
        seen: dict[str, str] = {}
        for key, tag in self.conn.execute("SELECT key, tag FROM tags ORDER BY key"):
            seen.setdefault(key, tag)
        return sorted(seen.values(), key=str.casefold)

    def _nid(self, note: str) -> int:
        row = self.conn.execute("SELECT nid FROM notes WHERE id = ?", (note,)).fetchone()
        return int(row[0]) if row else -1

    # -- text ------------------------------------------------------------------------------

    def file_lines(self, note: str) -> list[str]:
        """The lines of a note's file as aikb reads it (decoded, LF, NFC); empty if the file
        cannot be read. Line ``n`` of the file is item ``n - 1``."""
        found = self._texts.get(note)
        if found is None:
            row = self.conn.execute("SELECT path FROM notes WHERE id = ?", (note,)).fetchone()
            text = normalize_text(read_text(self.root, row[0])[0]) if row else ""
            if len(self._texts) >= TEXT_CACHE:
                self._texts.clear()
            found = self._texts[note] = text.split("\n")
        return found

    def lines(self, note: str, first: int, last: int) -> str:
        """File lines ``first``..``last`` (1-based, inclusive) of a note, as text."""
        return "\n".join(self.file_lines(note)[max(first - 1, 0) : max(last, 0)])

    def line_text(self, note: str, line: int) -> str:
        """One file line of a note, or ``""``."""
        rows = self.file_lines(note)
        return rows[line - 1] if 0 < line <= len(rows) else ""

    def content(self, concept: Concept) -> str:
        """The Markdown source of a concept: a note's body (after front matter), or a
        section from its heading to its last line."""
        first = self.body_line(concept.note) if concept.is_note else concept.line
        return self.lines(concept.note, first, concept.end_line).strip("\n")

    def shown_content(self, concept: Concept) -> str:
        """:meth:`content` as ``show``, ``browse`` and embeds display it: a section is
        followed by the footnotes it cites that its note keeps elsewhere
        (:meth:`footnotes`)."""
        content = self.content(concept)
        footnotes = self.footnotes(concept, content)
        return f"{content}\n\n{footnotes}" if footnotes else content

    def footnotes(self, concept: Concept, content: str | None = None) -> str:
        """The Markdown of the footnote definitions (``[^1]: ...``) a section refers to but
        that are written elsewhere in its note, in file order, for showing after the
        section (one big note with its footnotes at the end is how many vaults keep them);
        ``""`` for a note, or a section that refers to none. Parses the note's body with
        the display parser when the section (``content``, if the caller has it) holds
        ``[^`` at all."""
        if concept.is_note or "[^" not in (content or self.content(concept)):
            return ""
        import textwrap

        from aikb.syntax import parser

        base = self.body_line(concept.note)
        body = self.lines(concept.note, base, len(self.file_lines(concept.note)))
        written: dict[str, tuple[int, int]] = {}  # label -> its first definition's lines
        cited: list[tuple[int, str]] = []  # (line, label) of each reference
        for token in parser().parse(body, {}):
            if token.map is None:
                continue
            if token.type == "footnote_reference_open":
                label = str(token.meta.get("label"))
                written.setdefault(label, (token.map[0] + base, token.map[1] - 1 + base))
            elif token.type == "inline":
                line = token.map[0] + base
                cited.extend(
                    (line, str(child.meta.get("label")))
                    for child in token.children or ()
                    if child.type == "footnote_ref"
                )
        inside = range(concept.line, concept.end_line + 1)
        shown = {label for line, label in cited if line in inside}
        wanted = [label for label in shown if label in written]
        while wanted:  # and the footnotes those footnotes cite, and so on
            first, last = written[wanted.pop()]
            for line, label in cited:
                if first <= line <= last and label not in shown:
                    shown.add(label)
                    wanted.append(label)
        outside = sorted(
            lines for label, lines in written.items() if label in shown and lines[0] not in inside
        )
        # Written inside a list or indented, a footnote is shown from its own left margin
        # (four spaces or more would make it a code block).
        return "\n".join(
            textwrap.dedent(self.lines(concept.note, first, last)) for first, last in outside
        )

    def own_text(self, concept_id: str) -> str:
        """The text a concept holds before its first subsection (for snippets); when that is
        blank, its whole text, subsections included."""
        row = self.conn.execute(
            "SELECT n.id, c.line, c.own_end, c.end_line, c.level, n.body_line FROM concepts c"
            " JOIN notes n ON n.nid = c.nid WHERE c.id = ?",
            (concept_id,),
        ).fetchone()
        if row is None:
            return ""
        note, line, own_end, end_line, level, body_line = row
        first = line + 1 if level else body_line
        own = self.lines(note, first, own_end)
        return own if own.strip() else self.lines(note, first, end_line)

    def block_text(self, note: str, block_id: str) -> str | None:
        """The Markdown of the block marked ``^block_id`` in ``note`` (any case), or None."""
        row = self.conn.execute(
            "SELECT b.line, b.end_line FROM blocks b JOIN notes n ON n.nid = b.nid"
            " WHERE n.id = ? AND b.id = ? COLLATE NOCASE ORDER BY b.line LIMIT 1",
            (note, block_id),
        ).fetchone()
        return None if row is None else self.lines(note, row[0], row[1]).strip("\n")

    def embed(
        self, source: str, target: str, headings: tuple[str, ...], block: str | None
    ) -> tuple[str, str, str] | None:
        """What an embed written in note ``source`` shows: ``(id, note, Markdown)``, or None.

        A whole note, a section (heading and subsections, then the footnotes it cites
        that its note keeps elsewhere: :meth:`footnotes`), or one block; the id is the
        concept's, or ``concept#^block`` for a block, so renderers can detect cycles.
        """
        if self._catalog is None:
            self._catalog = self.catalog()
        found = self._catalog.resolve(Link("embed", target, headings, block), source)
        concept = self.concept(found.concept) if found.concept and not found.reason else None
        if concept is None:
            return None
        if block:
            text = self.block_text(concept.note, block)
            if text is not None:
                return f"{concept.id}#^{block}", concept.note, text
        return concept.id, concept.note, self.shown_content(concept)

    # -- links -----------------------------------------------------------------------------

    def links_from(self, concept: Concept) -> list[ResolvedLink]:
        """Outgoing links written inside a concept (subsections included), in line order;
        a note's include those in its front matter."""
        rows = self.conn.execute(
            _LINKS + " WHERE l.nid = ? AND l.line BETWEEN ? AND ? ORDER BY l.line, l.lid",
            (self._nid(concept.note), 0 if concept.is_note else concept.line, concept.end_line),
        )
        return [_link_from_row(r) for r in rows]

    def all_links(self, broken_only: bool = False) -> Iterator[ResolvedLink]:
        """Every link of the vault (or only unresolved ones), by note path and line."""
        where = " WHERE l.reason IS NOT NULL" if broken_only else ""
        rows = self.conn.execute(_LINKS + where + " ORDER BY n.path, l.line, l.lid")
        return (_link_from_row(r) for r in rows)

    def backlinks(self, concept: Concept) -> list[Backlink]:
        """Links into a concept or its subsections from anywhere outside the concept: the
        concept holding each, its line and that line's text (one per source line). A link
        to a note counts for the note only, not for a section starting on the note's first
        line; one to a missing heading or block of the note counts for the note, as in
        Obsidian's backlinks pane."""
        nid = self._nid(concept.note)
        rows = self.conn.execute(
            "SELECT s.id, l.line, n.id, n.path, r.id FROM links l"
            " JOIN concepts r ON r.cid = l.resolved JOIN concepts s ON s.cid = l.source"
            " JOIN notes n ON n.nid = l.nid"
            " WHERE r.nid = ? AND r.line BETWEEN ? AND ? AND (r.seq > 0 OR ?)"
            " AND NOT (l.nid = ? AND l.line BETWEEN ? AND ?) ORDER BY n.path, l.line",
            (
                nid,
                concept.line,
                concept.end_line,
                concept.is_note,
                nid,
                0 if concept.is_note else concept.line,
                concept.end_line,
            ),
        ).fetchall()
        seen: set[tuple[str, int]] = set()
        out = []
        for source, line, note, path, resolved in rows:
            if (source, line) in seen:  # two links on one line into this concept: one backlink
                continue
            seen.add((source, line))
            out.append(Backlink(source, line, self.line_text(note, line).strip(), path, resolved))
        return out

    def counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """Per concept id: number of outgoing links to notes, number of backlinks (the same
        rules as :meth:`links_from` and :meth:`backlinks`: one backlink per source line)."""
        ranges: dict[int, list[tuple[int, int, str]]] = {}
        where: dict[int, tuple[int, int, bool]] = {}  # cid -> nid, line, is a note
        for cid, concept_id, nid, line, end_line, level in self.conn.execute(
            "SELECT cid, id, nid, line, end_line, level FROM concepts ORDER BY nid, seq"
        ):
            ranges.setdefault(nid, []).append((0 if level == 0 else line, end_line, concept_id))
            where[cid] = (nid, line, level == 0)
        out_counts = {c: 0 for items in ranges.values() for _, _, c in items}
        back_counts = dict(out_counts)
        counted: set[tuple[str, int, int]] = set()  # (concept id, source nid, line)
        for nid, line, resolved in self.conn.execute(
            "SELECT nid, line, resolved FROM links WHERE kind != 'external'"
        ):
            for start, end, concept_id in ranges.get(nid, ()):
                if start <= line <= end:
                    out_counts[concept_id] += 1
            if resolved is None or resolved not in where:
                continue
            target_nid, target_line, to_note = where[resolved]
            for start, end, concept_id in ranges.get(target_nid, ()):
                if to_note and start:  # a link to the note is no section's backlink
                    break
                if not start <= target_line <= end or (nid == target_nid and start <= line <= end):
                    continue  # not into this concept, or from inside it
                key = (concept_id, nid, line)
                if key not in counted:
                    counted.add(key)
                    back_counts[concept_id] += 1
        return out_counts, back_counts

    # -- problems --------------------------------------------------------------------------

    def problems(self) -> list[Problem]:
        """Every stored problem about a note (front matter, encoding, reading)."""
        return [
            Problem(p, line, m, k)
            for p, line, m, k in self.conn.execute(
                "SELECT path, line, message, kind FROM problems ORDER BY path, line"
            )
        ]

    def duplicate_aliases(self) -> list[tuple[str, list[str]]]:
        """Front-matter aliases (compared by name key) used by more than one note:
        ``(alias as first written, note paths)``."""
        rows = self.conn.execute(
            "SELECT a.key, a.name, n.path FROM names a JOIN notes n ON n.nid = a.nid"
            " JOIN concepts c ON c.cid = a.cid"
            " WHERE a.kind = 'alias' AND c.seq = 0 AND a.key IN ("
            "  SELECT x.key FROM names x JOIN concepts y ON y.cid = x.cid"
            "  WHERE x.kind = 'alias' AND y.seq = 0 GROUP BY x.key"
            "  HAVING count(DISTINCT x.nid) > 1)"
            " ORDER BY a.key, n.path"
        ).fetchall()
        grouped: dict[str, tuple[str, list[str]]] = {}
        for key, name, path in rows:
            _, paths = grouped.setdefault(key, (name, []))
            if path not in paths:
                paths.append(path)
        return list(grouped.values())

    def orphans(self) -> list[str]:
        """Paths of notes with no resolved link to another note and none from another note."""
        rows = self.conn.execute(
            "SELECT n.path FROM notes n WHERE NOT EXISTS ("
            "  SELECT 1 FROM links l JOIN concepts c ON c.cid = l.resolved"
            "  WHERE l.nid = n.nid AND c.nid != n.nid)"
            " AND NOT EXISTS ("
            "  SELECT 1 FROM concepts c JOIN links l ON l.resolved = c.cid"
            "  WHERE c.nid = n.nid AND l.nid != n.nid)"
            " ORDER BY n.path"
        )
        return [r[0] for r in rows]

    # -- full text -------------------------------------------------------------------------

    def fulltext(
        self, stems_: Sequence[str], limit: int = 50, any_term: bool = False
    ) -> list[tuple[str, float]]:
        """Concept ids whose names or text hold a word form of every stem (or of any, with
        ``any_term``), best first by bm25 with names weighing 10x the text. Scores are
        positive, higher is better.

        The index stores words; the ``vocab`` table maps each indexed word to its stem, so
        a stem becomes the set of indexed words whose stem starts with it (``окн`` finds
        ``окно``, ``окна``, ``окном``).
        """
        clauses = []
        for stem_ in dict.fromkeys(s for s in stems_ if s):
            words = self._forms(stem_)
            if words:
                clauses.append("(" + " OR ".join(f'"{w}"' for w in words) + ")")
            elif not any_term:
                return []
        if not clauses:
            return []
        query = (" OR " if any_term else " AND ").join(clauses)
        try:
            rows = self.conn.execute(
                "SELECT c.id, bm25(fts, 10.0, 1.0) AS score"
                " FROM fts JOIN concepts c ON c.cid = fts.rowid"
                " WHERE fts MATCH ? ORDER BY score, c.id LIMIT ?",
                (query, limit),
            ).fetchall()
        except sqlite3.OperationalError:
            return []
        return [(cid, -float(score)) for cid, score in rows]

    def _forms(self, stem_: str) -> list[str]:
        """Indexed words whose stem starts with ``stem_``, at most :data:`MAX_FORMS`, the
        stem's own forms first: the first :data:`MAX_FORMS` in ``(stem, word)`` order.

        ``vocab`` keeps the words of notes since edited or deleted until it is pruned (see
        :meth:`_count_dropped`); they match nothing, so they only matter when there are
        more forms than fit: then candidates are checked against the full-text index
        itself, :data:`MAX_CANDIDATES` at a time, until enough are found, so the forms
        used are always those a freshly built index would use.
        """

        def page(offset: int) -> list[str]:
            rows = self.conn.execute(
                "SELECT term FROM vocab WHERE stem >= ? AND stem < ?"
                " ORDER BY stem, term LIMIT ? OFFSET ?",
                (stem_, stem_ + "\U0010ffff", MAX_CANDIDATES, offset),
            )
            return [r[0] for r in rows]

        words = page(0)
        if len(words) <= MAX_FORMS:
            return words
        live: list[str] = []
        offset = 0
        while True:
            for word in words:
                if self.conn.execute("SELECT 1 FROM fts_terms WHERE term = ?", (word,)).fetchone():
                    live.append(word)
                    if len(live) == MAX_FORMS:
                        return live
            if len(words) < MAX_CANDIDATES:
                return live
            offset += MAX_CANDIDATES
            words = page(offset)

    def _count_dropped(self, notes: int) -> None:
        """Count notes whose rows an update deleted (edited or gone), whose words may have
        left the full-text index but stay in ``vocab``; once they reach a fifth of the
        vault (or :data:`PRUNE_AFTER`, if more), drop every word no longer indexed (a scan
        of the full-text index: 0.15 s at 10,000 notes), so that :meth:`_forms` seldom
        has to step over many."""
        conn = self.conn
        row = conn.execute(
            "SELECT (SELECT value FROM meta WHERE key = 'dropped'), (SELECT count(*) FROM notes)"
        ).fetchone()
        dropped = int(row[0] or 0) + notes
        if dropped >= max(PRUNE_AFTER, int(row[1]) // 5):
            conn.execute("DELETE FROM vocab WHERE term NOT IN (SELECT term FROM fts_terms)")
            dropped = 0
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('dropped', ?)", (str(dropped),))

    def _add_words(self, texts: Iterable[str] | None) -> None:
        """Record the stems of indexed words not in ``vocab`` yet: of ``texts`` (what an
        update inserted), or of every word in the full-text index when None."""
        from aikb.terms import stem

        if texts is None:
            words = {r[0] for r in self.conn.execute("SELECT term FROM fts_terms")}
        else:
            words = {w for text in texts for w in _WORDS.findall(text.lower())}
        known: set[str] = set()
        if texts is not None and words:
            for chunk in _chunks(sorted(words), 500):
                marks = ",".join("?" * len(chunk))
                known.update(
                    r[0]
                    for r in self.conn.execute(
                        f"SELECT term FROM vocab WHERE term IN ({marks})", chunk
                    )
                )
        self.conn.executemany(
            "INSERT OR IGNORE INTO vocab VALUES (?, ?)", [(w, stem(w)) for w in words - known]
        )


def _resolutions(
    catalog: Catalog, cids: dict[str, int], notes: dict[int, str], links: list[Row]
) -> list[tuple[int | None, str | None, str | None, str | None]]:
    """What each link row of a full build reaches: ``(concept cid, reason, attachment,
    candidates json)``, in the order of ``links`` (rows as :meth:`Index._write` builds
    them; ``notes`` gives a nid's note id, ``cids`` a concept id's cid)."""
    out: list[tuple[int | None, str | None, str | None, str | None]] = []
    for row in links:
        nid, _, kind, target, headings, block = row[:6]
        if kind == "external":
            out.append((None, None, None, None))
            continue
        link = Link(
            kind,  # type: ignore[arg-type]
            str(target),
            split_headings(str(headings)),
            block if isinstance(block, str) else None,
        )
        found = catalog.resolve(link, notes[int(str(nid))])
        out.append(
            (
                cids.get(found.concept) if found.concept else None,
                found.reason,
                found.attachment,
                json.dumps(list(found.candidates)) if found.candidates else None,
            )
        )
    return out


def _build_concepts(rows: Sequence[Sequence[object]], names: dict[int, list[str]]) -> list[Concept]:
    """Concepts of one note from its ``_CONCEPTS`` rows (ordered by seq): parents and
    breadcrumbs come from the rows themselves."""
    ids: dict[int, str] = {}
    titles: dict[int, str] = {}
    parents: dict[int, int] = {}
    for row in rows:
        seq = int(str(row[5]))
        ids[seq] = str(row[1])
        titles[seq] = str(row[7])
        parents[seq] = int(str(row[10]))
    out = []
    for (
        cid,
        concept_id,
        _,
        note,
        path,
        _,
        level,
        title,
        line,
        end_line,
        parent,
        aliases,
        tags,
    ) in rows:
        level_n = int(str(level))
        parent_id: str | None = None
        crumbs: list[str] = [str(note)]
        if level_n > 0:
            parent_seq = int(str(parent)) + 1
            parent_id = ids.get(parent_seq, str(note)) if parent_seq > 0 else str(note)
            chain = [str(title)]
            up = int(str(parent))
            while up >= 0:
                chain.append(titles.get(up + 1, ""))
                up = parents.get(up + 1, -1)
            for part in reversed(chain):
                if part and crumbs[-1] != part:  # "AI-flow › AI-flow › x": an H1 repeating the note
                    crumbs.append(part)
        out.append(
            Concept(
                id=str(concept_id),
                note=str(note),
                path=str(path),
                kind=NOTE_KIND if level_n == 0 else f"H{level_n}",
                level=level_n,
                title=str(title),
                line=int(str(line)),
                end_line=int(str(end_line)),
                parent=parent_id,
                names=tuple(names.get(int(str(cid)), ())),
                aliases=_json_list(aliases),
                tags=_json_list(tags),
                breadcrumb=tuple(crumbs),
            )
        )
    return out


def _json_list(stored: object) -> tuple[str, ...]:
    """A JSON list of strings from a column; damage raises :class:`sqlite3.DatabaseError`
    (so the caller rebuilds the index) rather than a decoding error."""
    try:
        value = json.loads(str(stored))
    except ValueError:
        raise sqlite3.DatabaseError("damaged index: a column is not JSON") from None
    if not isinstance(value, list):
        raise sqlite3.DatabaseError("damaged index: a column is not a JSON list")
    return tuple(str(item) for item in value)


def _stamp_matches(meta: dict[str, str], root: Path) -> bool:
    """Whether ``meta`` rows say the database holds this schema version, for this vault."""
    return meta.get("schema") == _version_tag() and meta.get("root") == _root_stamp(root)


def _root_stamp(root: Path) -> str:
    """The vault's resolved path as stored in ``meta`` (undecodable bytes replaced)."""
    return printable(str(root.resolve()))


def _version_tag() -> str:
    """Schema version and aikb version: a database from any other pair is rebuilt."""
    return f"{SCHEMA_VERSION}/{__version__}"


def _tag_matches(tag: str, want: str) -> bool:
    key = tag.casefold()
    return key == want or key.startswith(want + "/")


def _link_from_row(row: Sequence[object]) -> ResolvedLink:
    (
        source,
        kind,
        target,
        headings,
        block,
        label,
        line,
        resolved,
        reason,
        attachment,
        candidates,
        note,
        path,
    ) = row
    link = Link(
        kind,  # type: ignore[arg-type]
        str(target),
        split_headings(str(headings)),
        block if isinstance(block, str) else None,
        label if isinstance(label, str) else None,
        int(str(line)),
    )
    return ResolvedLink(
        source=str(source),
        link=link,
        resolved=resolved if isinstance(resolved, str) else None,
        reason=reason if isinstance(reason, str) else None,  # type: ignore[arg-type]
        attachment=attachment if isinstance(attachment, str) else None,
        candidates=_json_list(candidates) if isinstance(candidates, str) else (),
        note=str(note),
        path=str(path),
    )


def _digest(listing: Listing) -> str:
    """A fingerprint of a vault listing (every note's path, size and change stamp, the other files,
    the listing problems): equal fingerprints mean nothing changed, so a command on an
    unchanged vault compares one short string instead of loading 100,000 saved entries.

    Listing order counts: the same files listed in another order only cost one update
    that finds nothing to parse.

    Marshal format 2, not the default: from format 3 on, an object referenced more than
    once at the time is written as a back-reference, so equal listings gave different
    bytes depending on what else held their objects (after an edit, the notes to parse
    did), and the command after every edit rewrote the index for nothing.
    """
    items = (listing.notes, listing.attachments, [str(p) for p in listing.problems])
    data = marshal.dumps(items, 2)
    return hashlib.blake2b(data, digest_size=20).hexdigest()


def _keys_of(path: str) -> tuple[str, str]:
    """``(name key, path key)`` of a note id or file path, as :class:`~aikb.graph.Catalog`
    looks them up."""
    key = link_key(path)
    return key.rpartition("/")[2], key


class _DatabaseNames:
    """A :class:`~aikb.graph.NameSource` answering from the index with indexed queries, for
    updates that resolve a few links (no need to load every name)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def notes_named(self, name: str) -> list[str]:
        return [
            r[0] for r in self._conn.execute("SELECT id FROM notes WHERE name_key = ?", (name,))
        ]

    def note_at(self, path: str) -> str | None:
        row = self._conn.execute("SELECT id FROM notes WHERE path_key = ?", (path,)).fetchone()
        return row[0] if row else None

    def files_named(self, name: str) -> list[str]:
        return [
            r[0]
            for r in self._conn.execute("SELECT path FROM attachments WHERE name_key = ?", (name,))
        ]

    def file_at(self, path: str) -> str | None:
        row = self._conn.execute(
            "SELECT path FROM attachments WHERE path_key = ?", (path,)
        ).fetchone()
        return row[0] if row else None


LOCK_POLL = 200
"""Milliseconds of one wait for the write lock (see :func:`_begin_immediate`)."""


def _begin_immediate(conn: sqlite3.Connection, waiting: Callable[[], None] | None = None) -> None:
    """Start a write transaction, waiting up to :data:`LOCK_WAIT` seconds for another
    process that holds the write lock (``waiting()`` is called once, when the wait
    starts; then :class:`sqlite3.OperationalError` "database is locked" is raised).

    The wait is made of :data:`LOCK_POLL` ms waits in SQLite, with Python running between
    them: Python handles a signal only between its own steps, so one long wait in SQLite
    ignored Ctrl-C until the other process was done. Leaves ``busy_timeout`` at
    :data:`LOCK_POLL`.
    """
    import time

    conn.execute(f"PRAGMA busy_timeout = {LOCK_POLL}")
    deadline: float | None = None
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            now = time.monotonic()
            if deadline is None:
                deadline = now + LOCK_WAIT
                if waiting is not None:
                    waiting()
            elif now >= deadline:
                raise


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


DATABASE_FILES = ("", "-wal", "-shm", "-journal")
"""Suffixes of a database's files: itself, its write-ahead log, shared memory, journal."""


def remove_database(path: Path) -> None:
    """Delete a database file and its WAL and shared-memory companions, if present.

    Raises :class:`CacheUnavailable` when one exists and cannot be deleted (a read-only
    cache folder, a folder in its place).
    """
    for suffix in DATABASE_FILES:
        try:
            os.remove(str(path) + suffix)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise CacheUnavailable(
                f"cannot delete index file {printable(str(path) + suffix)}: {exc.strerror}"
            ) from None


def not_a_file(path: Path) -> str | None:
    """The name of a database file at ``path`` (or of its companions) that exists and is
    not a regular file (a FIFO, a socket, a folder), else None. SQLite would wait forever
    opening a FIFO, so such a database is never opened."""
    for suffix in DATABASE_FILES:
        name = str(path) + suffix
        try:
            mode = os.stat(name).st_mode
        except OSError:
            continue
        if not stat.S_ISREG(mode):
            return name
    return None


def is_busy(exc: sqlite3.Error) -> bool:
    """True for "database is locked" or "busy": another process holds the lock."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return any(
        s in text
        for s in ("not a database", "malformed", "corrupt", "encrypted", "disk image", "wal")
    )
