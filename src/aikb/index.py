"""The concept graph, kept in SQLite: built from the vault, updated incrementally, queried.

One database per vault lives in the user cache dir (never inside the vault), keyed by
the vault's resolved path; ``--no-cache`` uses an in-memory database with the same code.
Each run stats the note files and re-parses only those whose size or mtime changed,
drops deleted ones, and re-resolves just the links whose target name could have changed
meaning. Commands then answer with indexed queries; nothing loads every note.

The schema is versioned (:data:`SCHEMA_VERSION`): a database written by another version,
or one that is not a database at all, is rebuilt from scratch.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from aikb import __version__
from aikb.graph import BlockRef, Catalog, HeadingRef, link_name_key
from aikb.model import NOTE_KIND, Backlink, Concept, Link, Problem, ResolvedLink
from aikb.normalize import link_key, name_key
from aikb.vault import FileStat, LoadedNote, load_note, scan

SCHEMA_VERSION = "6"
PARALLEL_THRESHOLD = 256
"""Below this many notes to parse, parsing stays in this process (workers cost ~50 ms)."""
WRITE_BATCH = 256
"""Notes inserted per batch when parsing in this process."""

Progress = Callable[[int, int], None]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS notes(
    id TEXT PRIMARY KEY, path TEXT NOT NULL UNIQUE, size INTEGER, mtime_ns INTEGER,
    front TEXT NOT NULL, body TEXT NOT NULL, body_line INTEGER NOT NULL,
    line_count INTEGER NOT NULL, fm_error TEXT);
CREATE TABLE IF NOT EXISTS concepts(
    rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, note TEXT NOT NULL,
    seq INTEGER NOT NULL, level INTEGER NOT NULL, title TEXT NOT NULL, anchor TEXT,
    line INTEGER NOT NULL, end_line INTEGER NOT NULL, own_end INTEGER NOT NULL,
    parent INTEGER NOT NULL, aliases TEXT NOT NULL, tags TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS names(
    key TEXT NOT NULL, name TEXT NOT NULL, concept TEXT NOT NULL, note TEXT NOT NULL,
    kind TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS links(
    rowid INTEGER PRIMARY KEY, note TEXT NOT NULL, source TEXT NOT NULL, kind TEXT NOT NULL,
    target TEXT NOT NULL, headings TEXT NOT NULL, block TEXT, label TEXT,
    line INTEGER NOT NULL, section INTEGER NOT NULL, key TEXT,
    resolved TEXT, reason TEXT, attachment TEXT, candidates TEXT);
CREATE TABLE IF NOT EXISTS blocks(
    note TEXT NOT NULL, id TEXT NOT NULL, line INTEGER NOT NULL, end_line INTEGER NOT NULL,
    section INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tags(note TEXT NOT NULL, key TEXT NOT NULL, tag TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS attachments(path TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS problems(
    note TEXT, path TEXT NOT NULL, line INTEGER, message TEXT, kind TEXT);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(names, body, tokenize='unicode61');
"""

_INDEXES = (
    "CREATE INDEX IF NOT EXISTS concepts_note ON concepts(note, seq)",
    "CREATE INDEX IF NOT EXISTS names_key ON names(key)",
    "CREATE INDEX IF NOT EXISTS names_note ON names(note)",
    "CREATE INDEX IF NOT EXISTS names_concept ON names(concept)",
    "CREATE INDEX IF NOT EXISTS links_note ON links(note, line)",
    "CREATE INDEX IF NOT EXISTS links_resolved ON links(resolved)",
    "CREATE INDEX IF NOT EXISTS links_key ON links(key)",
    "CREATE INDEX IF NOT EXISTS blocks_note ON blocks(note)",
    "CREATE INDEX IF NOT EXISTS tags_key ON tags(key)",
    "CREATE INDEX IF NOT EXISTS tags_note ON tags(note)",
    "CREATE INDEX IF NOT EXISTS problems_note ON problems(note)",
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
    "fts",
)


class CacheUnavailable(Exception):
    """The on-disk index cannot be used (unwritable, locked, corrupt beyond repair)."""


class SyncReport:
    """What one :meth:`Index.sync` did: counts of notes parsed and removed, new problems."""

    __slots__ = ("parsed", "problems", "relinked", "removed", "total")

    def __init__(self, total: int = 0, problems: list[Problem] | None = None) -> None:
        self.total = total
        self.parsed = 0
        self.removed = 0
        self.relinked = 0
        self.problems: list[Problem] = problems if problems is not None else []


Row = tuple[object, ...]


class Rows(NamedTuple):
    """Everything one note adds to the database, computed in a worker process so the
    writer only inserts. ``concepts`` rows lack their rowid, which the writer assigns
    (the full-text row of a concept shares it)."""

    id: str
    path: str
    note: Row
    concepts: list[Row]
    fts: list[tuple[str, str]]
    names: list[tuple[str, str, str, str, str]]
    links: list[Row]
    blocks: list[Row]
    tags: list[tuple[str, str, str]]
    problems: list[Problem]


def database_path(root: Path, directory: Path) -> Path:
    """The database file for the vault at ``root``: ``<dir>/<name>-<hash of path>.sqlite3``."""
    resolved = str(root.resolve())
    digest = hashlib.sha256(resolved.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", root.name)[:40].strip("-") or "vault"
    return directory / f"{slug}-{digest}.sqlite3"


class Index:
    """A vault's concept graph in SQLite. Create with :meth:`open`, then :meth:`sync`.

    All query methods return model objects (:class:`~aikb.model.Concept`,
    :class:`~aikb.model.ResolvedLink`, :class:`~aikb.model.Backlink`).
    """

    def __init__(self, conn: sqlite3.Connection, root: Path, path: Path | None) -> None:
        self.conn = conn
        self.root = root
        self.path = path
        self._concept_cache: dict[str, Concept | None] = {}
        self._catalog: Catalog | None = None

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, root: Path, path: Path | None) -> Index:
        """Open (creating or rebuilding as needed) the index of ``root`` at ``path``.

        ``path=None`` gives an in-memory index. Raises :class:`CacheUnavailable` when the
        file cannot be created or written; the caller then falls back to memory.
        """
        if path is None:
            conn = sqlite3.connect(":memory:", isolation_level=None)
            index = cls(conn, root, None)
            index._create()
            return index
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheUnavailable(
                f"cannot create cache folder {path.parent}: {exc.strerror}"
            ) from None
        for attempt in range(2):
            try:
                conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
                index = cls(conn, root, path)
                index._prepare_file()
                return index
            except sqlite3.DatabaseError as exc:
                with contextlib.suppress(Exception):
                    conn.close()
                if attempt or not _is_corruption(exc):
                    raise CacheUnavailable(f"cannot use index {path}: {exc}") from None
                remove_database(path)
        raise CacheUnavailable(f"cannot use index {path}")  # pragma: no cover

    def _prepare_file(self) -> None:
        conn = self.conn
        conn.execute("PRAGMA busy_timeout = 30000")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        if mode is None or str(mode[0]).lower() != "wal":
            raise sqlite3.DatabaseError("cannot switch to WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        version = None
        with contextlib.suppress(sqlite3.OperationalError):
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            version = row[0] if row else None
        if version != _version_tag():
            self._drop_all()
            self._create()
        else:
            row = conn.execute("SELECT value FROM meta WHERE key = 'root'").fetchone()
            if row is None or row[0] != str(self.root):
                self._drop_all()
                self._create()

    def _drop_all(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        for table in _TABLES:
            self.conn.execute(f"DROP TABLE IF EXISTS {table}")
        self.conn.execute("COMMIT")

    def _create(self) -> None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        self._create_indexes()
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (_version_tag(),))
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('root', ?)", (str(self.root),))
        conn.execute("COMMIT")

    def _create_indexes(self) -> None:
        for statement in _INDEXES:
            self.conn.execute(statement)

    def _drop_indexes(self) -> None:
        for statement in _INDEXES:
            name = statement.split("EXISTS ")[1].split(" ")[0]
            self.conn.execute(f"DROP INDEX IF EXISTS {name}")

    def close(self) -> None:
        """Close the database connection."""
        self.conn.close()

    # -- building ------------------------------------------------------------------------

    def sync(self, progress: Progress | None = None, jobs: int | None = None) -> SyncReport:
        """Bring the index up to date with the files: parse new and changed notes, drop
        deleted ones, re-resolve affected links. Cheap when nothing changed (one stat per
        note). ``progress(done, total)`` is called while parsing; ``jobs`` caps worker
        processes (default: all cores). Safe against a concurrent sync in another process:
        the write lock is taken before the work is decided.
        """
        listing = scan(self.root)
        report = SyncReport(total=len(listing.notes), problems=list(listing.problems))
        if not self._stale(listing.notes, listing.attachments):
            return report
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            known = self._known_files()
            todo = [
                f for p, f in sorted(listing.notes.items()) if known.get(p) != (f.size, f.mtime_ns)
            ]
            removed = [p for p in known if p not in listing.notes]
            old_attachments = {r[0] for r in conn.execute("SELECT path FROM attachments")}
            new_attachments = set(listing.attachments)
            full = not known
            affected = {link_name_key(p) for p in removed}
            affected.update(link_name_key(f.path) for f in todo)
            affected.update(
                link_key(p.rpartition("/")[2]) for p in old_attachments ^ new_attachments
            )
            ids_by_path = {p: i for i, p in conn.execute("SELECT id, path FROM notes")}
            for path in removed:
                self._delete_note(ids_by_path[path])
            for file in todo:
                if file.path in ids_by_path:
                    self._delete_note(ids_by_path[file.path])
            if old_attachments != new_attachments:
                conn.execute("DELETE FROM attachments")
                conn.executemany(
                    "INSERT INTO attachments VALUES (?)", ((p,) for p in sorted(new_attachments))
                )
            changed_ids: list[str] = []
            taken = {i for (i,) in conn.execute("SELECT id FROM notes")}
            if full:
                self._drop_indexes()  # bulk insert first, index once at the end
            for batch in _prepare_all(self.root, todo, progress, jobs):
                kept = []
                for rows in batch:
                    if rows.id in taken:  # two files whose names differ only in Unicode form
                        message = f"same note id as another file ({rows.id}), skipped"
                        report.problems.append(Problem(rows.path, 0, message))
                        continue
                    taken.add(rows.id)
                    kept.append(rows)
                    changed_ids.append(rows.id)
                    report.problems.extend(rows.problems)
                self._write(kept)
            report.parsed = len(todo)
            report.removed = len(removed)
            report.relinked = self._resolve(None if full else affected, changed_ids)
            if full:
                self._create_indexes()
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._concept_cache.clear()
        self._catalog = None
        return report

    def _known_files(self) -> dict[str, tuple[int, int]]:
        return {
            p: (s, m) for p, s, m in self.conn.execute("SELECT path, size, mtime_ns FROM notes")
        }

    def _stale(self, notes: dict[str, FileStat], attachments: list[str]) -> bool:
        known = self._known_files()
        if len(known) != len(notes):
            return True
        for path, file in notes.items():
            if known.get(path) != (file.size, file.mtime_ns):
                return True
        count = self.conn.execute("SELECT count(*) FROM attachments").fetchone()[0]
        if count != len(attachments):
            return True
        if attachments:
            stored = {r[0] for r in self.conn.execute("SELECT path FROM attachments")}
            return stored != set(attachments)
        return False

    def _delete_note(self, note: str) -> None:
        conn = self.conn
        conn.execute(
            "DELETE FROM fts WHERE rowid IN (SELECT rowid FROM concepts WHERE note = ?)", (note,)
        )
        for table, column in (
            ("concepts", "note"),
            ("names", "note"),
            ("links", "note"),
            ("blocks", "note"),
            ("tags", "note"),
            ("problems", "note"),
            ("notes", "id"),
        ):
            conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (note,))

    def _write(self, batch: list[Rows]) -> None:
        """Insert a batch of notes, one ``executemany`` per table."""
        conn = self.conn
        row = conn.execute("SELECT coalesce(max(rowid), 0) FROM concepts").fetchone()
        next_rowid = int(row[0]) + 1
        concepts: list[tuple[object, ...]] = []
        fts: list[tuple[object, ...]] = []
        for rows in batch:
            for concept, (names_text, body_text) in zip(rows.concepts, rows.fts, strict=True):
                concepts.append((next_rowid, *concept))
                fts.append((next_rowid, names_text, body_text))
                next_rowid += 1
        conn.executemany("INSERT INTO notes VALUES (?,?,?,?,?,?,?,?,?)", [r.note for r in batch])
        conn.executemany("INSERT INTO concepts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", concepts)
        conn.executemany("INSERT INTO fts(rowid, names, body) VALUES (?,?,?)", fts)
        conn.executemany(
            "INSERT INTO names VALUES (?,?,?,?,?)", [n for r in batch for n in r.names]
        )
        conn.executemany(
            "INSERT INTO links(note, source, kind, target, headings, block, label, line,"
            " section, key) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [link for r in batch for link in r.links],
        )
        conn.executemany(
            "INSERT INTO blocks VALUES (?,?,?,?,?)", [b for r in batch for b in r.blocks]
        )
        conn.executemany("INSERT INTO tags VALUES (?,?,?)", [t for r in batch for t in r.tags])
        conn.executemany(
            "INSERT INTO problems VALUES (?,?,?,?,?)",
            [(r.id, p.path, p.line, p.message, p.kind) for r in batch for p in r.problems],
        )

    def _resolve(self, affected: set[str] | None, changed: list[str]) -> int:
        """Re-resolve links: all of them (``affected`` None) or those from ``changed``
        notes plus those whose target file name key is in ``affected``."""
        conn = self.conn
        select = (
            "SELECT rowid, note, kind, target, headings, block FROM links WHERE kind != 'external'"
        )
        if affected is None:
            rows = conn.execute(select).fetchall()
        else:
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS wanted_keys(key TEXT PRIMARY KEY)")
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS wanted_notes(note TEXT PRIMARY KEY)")
            conn.execute("DELETE FROM wanted_keys")
            conn.execute("DELETE FROM wanted_notes")
            conn.executemany(
                "INSERT OR IGNORE INTO wanted_keys VALUES (?)", ((k,) for k in affected)
            )
            conn.executemany(
                "INSERT OR IGNORE INTO wanted_notes VALUES (?)", ((n,) for n in changed)
            )
            rows = conn.execute(
                select + " AND (key IN (SELECT key FROM wanted_keys)"
                " OR note IN (SELECT note FROM wanted_notes))"
            ).fetchall()
        if not rows:
            return 0
        catalog = self.catalog(preload=affected is None)
        updates = []
        for rowid, note, kind, target, headings, block in rows:
            link = Link(kind, target, split_headings(headings), block)
            found = catalog.resolve(link, note)
            updates.append(
                (
                    found.concept,
                    found.reason,
                    found.attachment,
                    json.dumps(list(found.candidates)) if found.candidates else None,
                    rowid,
                )
            )
        conn.executemany(
            "UPDATE links SET resolved = ?, reason = ?, attachment = ?, candidates = ?"
            " WHERE rowid = ?",
            updates,
        )
        return len(updates)

    def catalog(self, preload: bool = False) -> Catalog:
        """A :class:`~aikb.graph.Catalog` over this index; headings and blocks are loaded
        per note on demand, or all at once with ``preload``."""
        conn = self.conn
        notes = [r[0] for r in conn.execute("SELECT id FROM notes")]
        attachments = [r[0] for r in conn.execute("SELECT path FROM attachments")]
        heading_map: dict[str, list[HeadingRef]] | None = None
        block_map: dict[str, list[BlockRef]] | None = None
        if preload:
            heading_map = {}
            for note, seq, level, title, parent, anchor in conn.execute(
                "SELECT note, seq, level, title, parent, anchor FROM concepts"
                " WHERE seq > 0 ORDER BY note, seq"
            ):
                heading_map.setdefault(note, []).append(
                    HeadingRef(seq - 1, level, title, parent, anchor)
                )
            block_map = {}
            for note, block_id, section in conn.execute("SELECT note, id, section FROM blocks"):
                block_map.setdefault(note, []).append(BlockRef(block_id, section))

        def headings(note: str) -> list[HeadingRef]:
            if heading_map is not None:
                return heading_map.get(note, [])
            return [
                HeadingRef(seq - 1, level, title, parent, anchor)
                for seq, level, title, parent, anchor in conn.execute(
                    "SELECT seq, level, title, parent, anchor FROM concepts"
                    " WHERE note = ? AND seq > 0 ORDER BY seq",
                    (note,),
                )
            ]

        def blocks(note: str) -> list[BlockRef]:
            if block_map is not None:
                return block_map.get(note, [])
            return [
                BlockRef(b, s)
                for b, s in conn.execute(
                    "SELECT id, section FROM blocks WHERE note = ? ORDER BY line", (note,)
                )
            ]

        return Catalog(notes, attachments, headings, blocks)

    # -- queries -------------------------------------------------------------------------

    _CONCEPT_COLUMNS = (
        "c.id, c.note, n.path, c.seq, c.level, c.title, c.line, c.end_line,"
        " c.parent, c.aliases, c.tags"
    )

    def _concept_from_row(
        self, row: Sequence[object], names: Sequence[str] | None = None
    ) -> Concept:
        cid, note, path, _, level, title, line, end_line, parent, aliases, tags = row
        assert isinstance(cid, str) and isinstance(note, str) and isinstance(level, int)
        parent_id: str | None = None
        if level > 0:
            parent_id = note
            if isinstance(parent, int) and parent >= 0:
                found = self.conn.execute(
                    "SELECT id FROM concepts WHERE note = ? AND seq = ?", (note, parent + 1)
                ).fetchone()
                parent_id = found[0] if found else note
        alias_list = tuple(json.loads(str(aliases)))
        title_text = str(title)
        if names is None:
            names = [
                r[0]
                for r in self.conn.execute(
                    "SELECT name FROM names WHERE concept = ? ORDER BY rowid", (cid,)
                )
            ]
        return Concept(
            id=cid,
            note=note,
            path=str(path),
            kind=NOTE_KIND if level == 0 else f"H{level}",
            level=level,
            title=title_text,
            line=int(str(line)),
            end_line=int(str(end_line)),
            parent=parent_id,
            names=tuple(names),
            aliases=alias_list,
            tags=tuple(json.loads(str(tags))),
            breadcrumb=self._breadcrumb(note, parent_id, title_text, level),
        )

    def _breadcrumb(self, note: str, parent: str | None, title: str, level: int) -> tuple[str, ...]:
        if level == 0:
            return (note,)
        chain = [title]
        current = parent
        while current is not None and current != note:
            row = self.conn.execute(
                "SELECT title, parent, note FROM concepts WHERE id = ?", (current,)
            ).fetchone()
            if row is None:
                break
            chain.append(row[0])
            parent_seq = row[1]
            if parent_seq < 0:
                break
            up = self.conn.execute(
                "SELECT id FROM concepts WHERE note = ? AND seq = ?", (note, parent_seq + 1)
            ).fetchone()
            current = up[0] if up else None
        chain.append(note)
        crumbs: list[str] = []
        for part in reversed(chain):
            if not crumbs or crumbs[-1] != part:  # "AI-flow › AI-flow › x": the H1 repeats the note
                crumbs.append(part)
        return tuple(crumbs)

    def concept(self, concept_id: str) -> Concept | None:
        """The concept with exactly this id, or None."""
        if concept_id in self._concept_cache:
            return self._concept_cache[concept_id]
        row = self.conn.execute(
            f"SELECT {self._CONCEPT_COLUMNS} FROM concepts c JOIN notes n ON n.id = c.note"
            " WHERE c.id = ?",
            (concept_id,),
        ).fetchone()
        found = self._concept_from_row(row) if row else None
        self._concept_cache[concept_id] = found
        return found

    def concept_by_key(self, text: str) -> Concept | None:
        """The concept whose id equals ``text`` case-insensitively (NFC), or None."""
        found = self.concept(text)
        if found:
            return found
        row = self.conn.execute(
            "SELECT id FROM concepts WHERE id = ? COLLATE NOCASE ORDER BY seq LIMIT 1", (text,)
        ).fetchone()
        return self.concept(row[0]) if row else None

    def by_name(self, key: str) -> list[tuple[Concept, str, str]]:
        """Concepts having a name with this :func:`~aikb.normalize.name_key`:
        ``(concept, name as written, kind)`` with kind ``name``, ``alias`` or ``heading``."""
        out = []
        for name, concept_id, kind in self.conn.execute(
            "SELECT name, concept, kind FROM names WHERE key = ?", (key,)
        ):
            concept = self.concept(concept_id)
            if concept:
                out.append((concept, name, kind))
        return out

    def all_names(self) -> list[tuple[str, str, str, str]]:
        """Every lookup name: ``(key, name, concept id, kind)``."""
        return self.conn.execute("SELECT key, name, concept, kind FROM names").fetchall()

    def note_text(self, note: str) -> tuple[str, int]:
        """A note's body and the file line its first line is on."""
        row = self.conn.execute(
            "SELECT body, body_line FROM notes WHERE id = ?", (note,)
        ).fetchone()
        return (row[0], row[1]) if row else ("", 1)

    def line_text(self, note: str, line: int) -> str:
        """The text of one file line of a note (front matter lines included), or ``""``."""
        row = self.conn.execute(
            "SELECT front, body, body_line FROM notes WHERE id = ?", (note,)
        ).fetchone()
        if row is None:
            return ""
        front, body, body_line = row
        if line >= body_line:
            rows, index = body.split("\n"), line - body_line
        else:
            rows, index = front.split("\n"), line - 1
        return rows[index] if 0 <= index < len(rows) else ""

    def lines(self, note: str, first: int, last: int) -> str:
        """File lines ``first``..``last`` (1-based, inclusive) of a note's body, as text."""
        body, body_line = self.note_text(note)
        rows = body.split("\n")
        start = max(first - body_line, 0)
        end = max(last - body_line + 1, 0)
        return "\n".join(rows[start:end])

    def content(self, concept: Concept) -> str:
        """The Markdown source of a concept: a note's body, or a section from its heading."""
        if concept.is_note:
            return self.note_text(concept.note)[0].strip("\n")
        return self.lines(concept.note, concept.line, concept.end_line).strip("\n")

    def block_text(self, note: str, block_id: str) -> str | None:
        """The Markdown of the block marked ``^block_id`` in ``note`` (any case), or None."""
        row = self.conn.execute(
            "SELECT line, end_line FROM blocks WHERE note = ? AND id = ? COLLATE NOCASE"
            " ORDER BY line LIMIT 1",
            (note, block_id),
        ).fetchone()
        return None if row is None else self.lines(note, row[0], row[1]).strip("\n")

    def embed(
        self, source: str, target: str, headings: tuple[str, ...], block: str | None
    ) -> tuple[str, str, str] | None:
        """What an embed written in note ``source`` shows: ``(id, note, Markdown)``, or None.

        A whole note, a section (heading and subsections), or one block; the id is the
        concept's, or ``concept#^block`` for a block, so renderers can detect cycles.
        """
        if self._catalog is None:
            self._catalog = self.catalog()
        found = self._catalog.resolve(Link("embed", target, headings, block), source)
        concept = self.concept(found.concept) if found.concept else None
        if concept is None:
            return None
        if block:
            text = self.block_text(concept.note, block)
            if text is not None:
                return f"{concept.id}#^{block}", concept.note, text
        return concept.id, concept.note, self.content(concept)

    def own_text(self, concept_id: str) -> str:
        """The text a concept holds before its first subsection (for snippets); when that is
        blank, its whole text, subsections included."""
        row = self.conn.execute(
            "SELECT note, line, own_end, end_line, level FROM concepts WHERE id = ?", (concept_id,)
        ).fetchone()
        if row is None:
            return ""
        note, line, own_end, end_line, level = row
        first = line + (1 if level else 0)
        own = self.lines(note, first, own_end)
        return own if own.strip() else self.lines(note, first, end_line)

    def children(self, concept: Concept) -> list[Concept]:
        """Direct subsections of a concept (top-level sections for a note), in file order."""
        if concept.is_note:
            rows = self.conn.execute(
                f"SELECT {self._CONCEPT_COLUMNS} FROM concepts c JOIN notes n ON n.id = c.note"
                " WHERE c.note = ? AND c.parent = -1 AND c.seq > 0 ORDER BY c.seq",
                (concept.note,),
            )
        else:
            seq = self.conn.execute(
                "SELECT seq FROM concepts WHERE id = ?", (concept.id,)
            ).fetchone()[0]
            rows = self.conn.execute(
                f"SELECT {self._CONCEPT_COLUMNS} FROM concepts c JOIN notes n ON n.id = c.note"
                " WHERE c.note = ? AND c.parent = ? ORDER BY c.seq",
                (concept.note, seq - 1),
            )
        return [self._concept_from_row(r) for r in rows]

    def links_from(self, concept: Concept) -> list[ResolvedLink]:
        """Outgoing links written inside a concept (subsections included), in line order."""
        rows = self.conn.execute(
            "SELECT l.source, l.kind, l.target, l.headings, l.block, l.label, l.line, l.section,"
            " l.resolved, l.reason, l.attachment, l.candidates, l.note, n.path"
            " FROM links l JOIN notes n ON n.id = l.note"
            " WHERE l.note = ? AND l.line BETWEEN ? AND ? ORDER BY l.line, l.rowid",
            (concept.note, concept.line if not concept.is_note else 0, concept.end_line),
        )
        return [_link_from_row(r) for r in rows]

    def all_links(self, broken_only: bool = False) -> Iterator[ResolvedLink]:
        """Every link of the vault (or only unresolved ones), by note and line."""
        where = " WHERE l.reason IS NOT NULL" if broken_only else ""
        rows = self.conn.execute(
            "SELECT l.source, l.kind, l.target, l.headings, l.block, l.label, l.line, l.section,"
            " l.resolved, l.reason, l.attachment, l.candidates, l.note, n.path"
            f" FROM links l JOIN notes n ON n.id = l.note{where} ORDER BY n.path, l.line, l.rowid"
        )
        return (_link_from_row(r) for r in rows)

    def backlinks(self, concept: Concept) -> list[Backlink]:
        """Links into a concept or its subsections, from anywhere outside the concept.

        Each gives the source concept, the line and that line's text (stripped).
        """
        rows = self.conn.execute(
            "SELECT l.source, l.line, l.note, n.path, l.resolved FROM links l"
            " JOIN concepts c ON c.id = l.resolved JOIN notes n ON n.id = l.note"
            " WHERE c.note = ? AND c.line BETWEEN ? AND ?"
            " AND NOT (l.note = ? AND l.line BETWEEN ? AND ?)"
            " ORDER BY n.path, l.line",
            (
                concept.note,
                concept.line,
                concept.end_line,
                concept.note,
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
        """Per concept id: number of outgoing links, number of backlinks (same rules as
        :meth:`links_from` and :meth:`backlinks`)."""
        ranges: dict[str, list[tuple[int, int, str]]] = {}
        for cid, note, line, end_line, level in self.conn.execute(
            "SELECT id, note, line, end_line, level FROM concepts ORDER BY note, seq"
        ):
            ranges.setdefault(note, []).append((0 if level == 0 else line, end_line, cid))
        where = {
            cid: (note, line, end) for note, items in ranges.items() for line, end, cid in items
        }
        out_counts: dict[str, int] = dict.fromkeys(where, 0)
        back_counts: dict[str, int] = dict.fromkeys(where, 0)
        for note, line, resolved in self.conn.execute(
            "SELECT note, line, resolved FROM links WHERE kind != 'external'"
        ):
            for start, end, cid in ranges.get(note, ()):
                if start <= line <= end:
                    out_counts[cid] += 1
            if resolved is None or resolved not in where:
                continue
            target_note, target_line, _ = where[resolved]
            for start, end, cid in ranges.get(target_note, ()):
                inside_target = (
                    start <= max(target_line, 1) <= end
                    if start == 0
                    else start <= target_line <= end
                )
                if inside_target and not (note == target_note and start <= line <= end):
                    back_counts[cid] += 1
        return out_counts, back_counts

    def concepts(self, notes_only: bool = False, tag: str | None = None) -> list[Concept]:
        """All concepts in path then file order; only notes, or only notes/sections with ``tag``
        (a nested tag ``a/b`` matches ``a``; case-insensitive)."""
        where = ["1=1"]
        params: list[object] = []
        if notes_only:
            where.append("c.level = 0")
        rows = self.conn.execute(
            f"SELECT {self._CONCEPT_COLUMNS} FROM concepts c JOIN notes n ON n.id = c.note"
            f" WHERE {' AND '.join(where)} ORDER BY n.path, c.seq",
            params,
        ).fetchall()
        names: dict[str, list[str]] = {}
        for concept_id, name in self.conn.execute("SELECT concept, name FROM names ORDER BY rowid"):
            names.setdefault(concept_id, []).append(name)
        out = [self._concept_from_row(r, names.get(str(r[0]), [])) for r in rows]
        if tag:
            want = tag.lstrip("#").casefold()
            out = [c for c in out if any(_tag_matches(t, want) for t in c.tags)]
        return out

    def tags(self) -> list[str]:
        """Every tag in the vault, as first written, sorted case-insensitively."""
        seen: dict[str, str] = {}
        for key, tag in self.conn.execute("SELECT key, tag FROM tags ORDER BY key"):
            seen.setdefault(key, tag)
        return sorted(seen.values(), key=str.casefold)

    def problems(self) -> list[Problem]:
        """Every stored problem about a note (front matter, encoding, reading)."""
        return [
            Problem(p, line or 0, m, k)
            for p, line, m, k in self.conn.execute(
                "SELECT path, line, message, kind FROM problems ORDER BY path, line"
            )
        ]

    def duplicate_aliases(self) -> list[tuple[str, list[str]]]:
        """Front-matter aliases (compared by name key) used by more than one note:
        ``(alias as first written, note paths)``."""
        rows = self.conn.execute(
            "SELECT a.key, a.name, n.path FROM names a JOIN notes n ON n.id = a.note"
            " WHERE a.kind = 'alias' AND a.concept = a.note AND a.key IN ("
            "  SELECT key FROM names WHERE kind = 'alias' AND concept = note"
            "  GROUP BY key HAVING count(DISTINCT note) > 1)"
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
            "  SELECT 1 FROM links l JOIN concepts c ON c.id = l.resolved"
            "  WHERE l.note = n.id AND c.note != n.id)"
            " AND NOT EXISTS ("
            "  SELECT 1 FROM links l JOIN concepts c ON c.id = l.resolved"
            "  WHERE c.note = n.id AND l.note != n.id)"
            " ORDER BY n.path"
        )
        return [r[0] for r in rows]

    def note_count(self) -> int:
        """Number of notes in the index."""
        return int(self.conn.execute("SELECT count(*) FROM notes").fetchone()[0])

    def fulltext(
        self, stems_: Sequence[str], limit: int = 50, any_term: bool = False
    ) -> list[tuple[str, float]]:
        """Concept ids whose names or text contain the stems (all of them, or any with
        ``any_term``), best bm25 first (names weigh 10x the body). Scores are positive,
        higher is better."""
        terms = [s for s in dict.fromkeys(stems_) if s]
        if not terms:
            return []
        query = (" OR " if any_term else " AND ").join(f'"{t}"*' for t in terms)
        try:
            rows = self.conn.execute(
                "SELECT c.id, bm25(fts, 10.0, 1.0) AS score"
                " FROM fts JOIN concepts c ON c.rowid = fts.rowid"
                " WHERE fts MATCH ? ORDER BY score LIMIT ?",
                (query, limit),
            ).fetchall()
        except sqlite3.OperationalError:
            return []
        return [(cid, -float(score)) for cid, score in rows]


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
        section,
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
        int(str(section)),
    )
    return ResolvedLink(
        source=str(source),
        link=link,
        resolved=resolved if isinstance(resolved, str) else None,
        reason=reason if isinstance(reason, str) else None,  # type: ignore[arg-type]
        attachment=attachment if isinstance(attachment, str) else None,
        candidates=tuple(json.loads(candidates)) if isinstance(candidates, str) else (),
        note=str(note),
        path=str(path),
    )


HEADING_SEPARATOR = "\x1f"
"""Joins a link's heading path in one column (a character no heading can contain)."""


def split_headings(stored: str) -> tuple[str, ...]:
    """A link's heading path as stored in the ``links.headings`` column."""
    return tuple(stored.split(HEADING_SEPARATOR)) if stored else ()


def concept_ids(note: LoadedNote) -> list[str]:
    """Ids of a note's concepts: the note id, then ``note#anchor`` for each section."""
    return [note.id, *(f"{note.id}#{s.anchor}" for s in note.parsed.sections)]


def rows_for(note: LoadedNote) -> Rows:
    """Every database row for one parsed note (pure; runs in worker processes)."""
    from aikb.graph import link_name_key

    parsed = note.parsed
    ids = concept_ids(note)
    sections = parsed.sections
    name = note.id.rpartition("/")[2]
    all_tags = sorted({t.name for t in parsed.tags}, key=str.casefold)
    first_child = sections[0].line - 1 if sections else parsed.line_count
    concepts: list[tuple[object, ...]] = [
        (
            ids[0],
            note.id,
            0,
            0,
            name,
            None,
            1,
            max(parsed.line_count, 1),
            max(first_child, 1),
            -1,
            json.dumps(list(parsed.aliases)),
            json.dumps(all_tags),
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
                note.id,
                seq,
                section.level,
                section.title,
                section.anchor,
                section.line,
                section.end_line,
                own_end,
                section.parent,
                json.dumps(list(section.aliases)),
                json.dumps(tags),
            )
        )
    links: list[Row] = [
        (
            note.id,
            ids[link.section + 1],
            link.kind,
            link.target,
            HEADING_SEPARATOR.join(link.headings),
            link.block,
            link.label,
            link.line,
            link.section,
            None if link.kind == "external" else link_name_key(link.target),
        )
        for link in parsed.links
    ]
    return Rows(
        id=note.id,
        path=note.path,
        note=(
            note.id,
            note.path,
            note.size,
            note.mtime_ns,
            parsed.front_matter,
            parsed.body,
            parsed.body_line,
            parsed.line_count,
            parsed.front_matter_error,
        ),
        concepts=concepts,
        fts=fts_rows(note),
        names=list(_name_rows(note, ids)),
        links=links,
        blocks=[(note.id, b.id, b.line, b.end_line, b.section) for b in parsed.blocks],
        tags=[(note.id, t.casefold(), t) for t in all_tags],
        problems=list(parsed.problems),
    )


def _name_rows(note: LoadedNote, ids: list[str]) -> Iterable[tuple[str, str, str, str, str]]:
    name = note.id.rpartition("/")[2]
    seen: set[tuple[str, str]] = set()
    candidates = [(name, ids[0], "name")]
    candidates += [(alias, ids[0], "alias") for alias in note.parsed.aliases]
    if note.parsed.title:
        candidates.append((note.parsed.title, ids[0], "alias"))
    for section, cid in zip(note.parsed.sections, ids[1:], strict=True):
        candidates.append((section.names[0], cid, "heading"))
        candidates += [(extra, cid, "alias") for extra in section.names[1:]]
    for text, concept, kind in candidates:
        key = name_key(text)
        if key and (key, concept) not in seen:
            seen.add((key, concept))
            yield (key, text, concept, note.id, kind)


def fts_rows(note: LoadedNote) -> list[tuple[str, str]]:
    """Full-text rows of a note's concepts, stemmed: ``(names, own text)`` per concept."""
    from aikb.terms import stems

    parsed = note.parsed
    lines = parsed.body.split("\n")
    base = parsed.body_line

    def text(first: int, last: int) -> str:
        return "\n".join(lines[max(first - base, 0) : max(last - base + 1, 0)])

    sections = parsed.sections
    first_heading = sections[0].line - 1 if sections else parsed.line_count
    note_names = " ".join([note.id.rpartition("/")[2], *parsed.aliases, parsed.title or ""])
    rows = [(" ".join(stems(note_names)), " ".join(stems(text(base, first_heading))))]
    for index, section in enumerate(sections):
        own_end = section.end_line
        if index + 1 < len(sections) and sections[index + 1].parent == index:
            own_end = sections[index + 1].line - 1
        rows.append(
            (
                " ".join(stems(" ".join(section.names))),
                " ".join(stems(text(section.line + 1, own_end))),
            )
        )
    return rows


def prepare(root: Path, file: FileStat) -> Rows:
    """Load, parse and turn into rows one note (runs in worker processes)."""
    return rows_for(load_note(root, file))


def _prepare_batch(args: tuple[Path, list[FileStat]]) -> list[Rows]:
    root, files = args
    return [prepare(root, f) for f in files]


def _prepare_all(
    root: Path, files: list[FileStat], progress: Progress | None, jobs: int | None
) -> Iterator[list[Rows]]:
    """Rows for every file, in batches, parsed by worker processes when there are many."""
    total = len(files)
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    if total < PARALLEL_THRESHOLD or workers <= 1:
        for start in range(0, total, WRITE_BATCH):
            yield [prepare(root, f) for f in files[start : start + WRITE_BATCH]]
            if progress:
                progress(min(start + WRITE_BATCH, total), total)
        return
    from concurrent.futures import ProcessPoolExecutor

    size = max(16, min(128, total // (workers * 8) or 16))
    batches = [(root, files[i : i + size]) for i in range(0, total, size)]
    done = 0
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for batch in pool.map(_prepare_batch, batches):
            yield batch
            done += len(batch)
            if progress:
                progress(done, total)


def remove_database(path: Path) -> None:
    """Delete a database file and its WAL and shared-memory companions, if present."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(str(path) + suffix)


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return any(
        s in text
        for s in (
            "not a database",
            "malformed",
            "corrupt",
            "file is encrypted",
            "disk image",
            "wal",
        )
    )
