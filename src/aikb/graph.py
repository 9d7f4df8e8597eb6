"""Link resolution: which note, heading or block a link reaches, following Obsidian.

The rules, each from Obsidian's own behaviour:

* **Note part** (:meth:`Catalog.find_note`): compared case-insensitively after Unicode NFC,
  with or without ``.md``. A bare name matches any note with that file name; a path
  (``work/index``) matches a note whose path, from the vault root, ends with it; ``./``
  and ``../`` are relative to the linking note's folder and never leave the vault.
  Markdown links are tried relative to the linking note first, then from the root. When
  several notes match, a note whose name has the link's exact case wins (``note.md``
  over ``Note.md`` for ``[[note]]``), then the one in the linking note's folder, then the
  shortest path (fewest folders, then fewest characters), then the alphabetically
  first, so the answer never depends on the order files were listed. No prefix or
  suffix of a *name* ever matches (``[[todo]]`` never reaches ``another-todo.md``).
* **Heading path** (:func:`find_heading`): ``[[N#A#B]]`` reaches the first heading ``B``
  (in file order) that has ``A`` among its ancestors. Exact text (case-insensitive,
  escapes and repeated spaces ignored) is tried first, then Obsidian's heading
  normalization (:func:`aikb.normalize.heading_key`).
* **Block id**: ``[[N#^id]]`` reaches the block ending with `` ^id`` (case-insensitive).
* **Missing heading or block**: ``[[N#No such heading]]`` still reaches the note ``N``,
  with the reason ``missing heading`` (or ``missing block``): Obsidian opens the note,
  and counts the link among its backlinks and in its graph.
* **Attachments**: a link that reaches no note but names an existing non-Markdown file
  reaches that file; a missing one with a file extension (``.png``, ``.pdf``...) is a
  ``missing attachment``, anything else a ``missing note``.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable
from typing import NamedTuple, Protocol

from aikb.model import Link, Reason
from aikb.normalize import heading_key, heading_text_key, link_key

ATTACHMENT_EXTENSIONS = frozenset(
    [
        "png",
        "jpg",
        "jpeg",
        "gif",
        "bmp",
        "svg",
        "webp",
        "avif",
        "ico",
        "tif",
        "tiff",
        "heic",
        "mp3",
        "wav",
        "m4a",
        "ogg",
        "oga",
        "flac",
        "3gp",
        "webm",
        "mp4",
        "mkv",
        "mov",
        "ogv",
        "avi",
        "pdf",
        "canvas",
        "base",
        "excalidraw",
        "csv",
        "tsv",
        "txt",
        "json",
        "xml",
        "html",
        "htm",
        "docx",
        "doc",
        "xlsx",
        "xls",
        "pptx",
        "ppt",
        "zip",
        "gz",
        "tar",
        "epub",
        "odt",
        "ods",
    ]
)
_EXTENSION = re.compile(r"\.([A-Za-z0-9]{1,10})$")


class HeadingRef(NamedTuple):
    """What resolution needs of one heading: position among its note's headings, level,
    title, parent position (-1 for none), and the id part after ``note#``."""

    number: int
    level: int
    title: str
    parent: int
    anchor: str


class BlockRef(NamedTuple):
    """A block id in a note and the index of the section holding it (-1: the note)."""

    id: str
    section: int


class Resolution(NamedTuple):
    """The outcome of resolving one link.

    ``concept`` is the id of the note or section reached; ``attachment`` the path of a
    non-note file reached; ``reason`` why the link is broken: nothing was reached
    (``missing note``, ``missing attachment``), or only the note, whose heading or block
    is missing (``missing heading``, ``missing block``: ``concept`` is the note's id);
    ``candidates`` the other notes an ambiguous note name could have meant (sorted).
    """

    concept: str | None = None
    reason: Reason | None = None
    attachment: str | None = None
    candidates: tuple[str, ...] = ()


def folder_of(path: str) -> str:
    """The folder part of a ``/``-separated path (``""`` at the vault root)."""
    return path.rpartition("/")[0]


def tie_break_key(note: str) -> tuple[int, int, str, str]:
    """Order for choosing among notes with the same name: fewest folders, shortest, A-Z."""
    return (note.count("/"), len(note), note.casefold(), note)


def strip_md(target: str) -> str:
    """Drop a trailing ``.md`` (any case) from a link's note part."""
    return target[:-3] if target[-3:].lower() == ".md" else target


def link_name_key(target: str) -> str:
    """The key of the file name a link's note part names, used to find links to re-resolve.

    ``folder/Some Note.md`` and ``[[some note]]`` both give ``some note``.
    """
    return link_key(strip_md(target.replace("\\", "/").rstrip("/").rpartition("/")[2]))


class NameSource(Protocol):
    """Where a :class:`Catalog` finds notes and other files by name. Keys are
    :func:`~aikb.normalize.link_key` forms of vault-relative paths (notes without ``.md``)."""

    def notes_named(self, name: str) -> list[str]:
        """Ids of the notes whose file name (last path part) has this key."""
        ...

    def note_at(self, path: str) -> str | None:
        """The id of the note at exactly this path key, or None."""
        ...

    def files_named(self, name: str) -> list[str]:
        """Paths of the non-note files whose file name has this key."""
        ...

    def file_at(self, path: str) -> str | None:
        """The path of the non-note file at exactly this path key, or None."""
        ...


class MemoryNames:
    """A :class:`NameSource` over lists held in memory (dictionaries built once)."""

    def __init__(self, notes: Iterable[str], attachments: Iterable[str]) -> None:
        self._notes, self._note_paths = _by_name_and_path(notes)
        self._files, self._file_paths = _by_name_and_path(attachments)

    def notes_named(self, name: str) -> list[str]:
        """See :class:`NameSource`."""
        return self._notes.get(name, [])

    def note_at(self, path: str) -> str | None:
        """See :class:`NameSource`."""
        return self._note_paths.get(path)

    def files_named(self, name: str) -> list[str]:
        """See :class:`NameSource`."""
        return self._files.get(name, [])

    def file_at(self, path: str) -> str | None:
        """See :class:`NameSource`."""
        return self._file_paths.get(path)


def _by_name_and_path(paths: Iterable[str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """``paths`` by the key of their last part (several may share one) and by full key."""
    by_name: dict[str, list[str]] = {}
    by_path: dict[str, str] = {}
    for path in paths:
        key = link_key(path)
        by_path[key] = path
        by_name.setdefault(key.rpartition("/")[2], []).append(path)
    return by_name, by_path


def _ending_with(paths: list[str], key: str) -> list[str]:
    """The paths whose key is ``key`` or ends with ``/key`` (``[[b/c]]`` finds ``a/b/c``)."""
    if "/" not in key:
        return paths
    return [p for p in paths if (k := link_key(p)) == key or k.endswith("/" + key)]


class Catalog:
    """The names of everything links can reach, with Obsidian's lookup rules.

    Notes and files are found through a :class:`NameSource` (in memory for a full build,
    indexed queries for a small update); headings and block ids are fetched per note
    through the two callables. Answers are memoized.
    """

    def __init__(
        self,
        names: NameSource,
        headings: Callable[[str], list[HeadingRef]],
        blocks: Callable[[str], list[BlockRef]],
    ) -> None:
        self._names = names
        self._headings_of = headings
        self._blocks_of = blocks
        self._heading_cache: dict[str, list[HeadingRef]] = {}
        self._key_cache: dict[str, HeadingKeys] = {}
        self._named: dict[str, list[str]] = {}
        self._missing: dict[tuple[str, str], Resolution] = {}
        self._inside: dict[tuple[str, tuple[str, ...], str | None], tuple[str, Reason | None]] = {}
        self._block_cache: dict[str, dict[str, BlockRef]] = {}

    def headings(self, note: str) -> list[HeadingRef]:
        """The headings of ``note`` in file order (cached)."""
        found = self._heading_cache.get(note)
        if found is None:
            found = self._heading_cache[note] = self._headings_of(note)
        return found

    def _keys(self, note: str) -> HeadingKeys:
        found = self._key_cache.get(note)
        if found is None:
            found = self._key_cache[note] = heading_keys(self.headings(note))
        return found

    def blocks(self, note: str) -> dict[str, BlockRef]:
        """The block ids of ``note``, keyed lower-case (cached)."""
        found = self._block_cache.get(note)
        if found is None:
            found = {}
            for block in self._blocks_of(note):
                found.setdefault(block.id.lower(), block)
            self._block_cache[note] = found
        return found

    def find_note(
        self, target: str, source: str, markdown: bool = False
    ) -> tuple[str | None, tuple[str, ...]]:
        """Find the note a link's note part names, from the note ``source``.

        Returns ``(note id or None, other candidates)``; see the module docstring for the
        rules. An empty target is the source note itself.
        """
        name = strip_md(target.strip().replace("\\", "/"))
        if not name:
            return source, ()
        here = folder_of(source)
        if name.startswith("/"):
            return self._path(name.lstrip("/")), ()
        if name.startswith(("./", "../")) or markdown:
            relative = (
                posixpath.normpath(posixpath.join(here, name)) if here else posixpath.normpath(name)
            )
            if relative.startswith("../") or relative == "..":
                return None, ()  # outside the vault: never reached
            found = self._path(relative)
            if found or name.startswith(("./", "../")):
                return found, ()
        candidates = self._candidates(name)
        if not candidates:
            return None, ()
        if len(candidates) == 1:
            return candidates[0], ()
        exact = [c for c in candidates if c == name or c.endswith("/" + name)]
        same_folder = [c for c in exact or candidates if folder_of(c) == here]
        best = min(same_folder or exact or candidates, key=tie_break_key)
        return best, tuple(sorted((c for c in candidates if c != best), key=tie_break_key))

    def _candidates(self, name: str) -> list[str]:
        """Notes a bare name or folder path can mean, whatever the linking note (cached)."""
        found = self._named.get(name)
        if found is None:
            key = link_key(name).strip("/")
            found = self._named[name] = _ending_with(
                self._names.notes_named(key.rpartition("/")[2]), key
            )
        return found

    def _path(self, path: str) -> str | None:
        return self._names.note_at(link_key(posixpath.normpath(path)))

    def find_attachment(self, target: str, source: str) -> str | None:
        """Find a non-note file a link names (full file name, extension included)."""
        name = target.strip().replace("\\", "/")
        if not name:
            return None
        if name.startswith(("./", "../", "/")):
            base = "" if name.startswith("/") else folder_of(source)
            relative = posixpath.normpath(posixpath.join(base, name.lstrip("/")))
            return None if relative.startswith("..") else self._names.file_at(link_key(relative))
        key = link_key(name).strip("/")
        found = _ending_with(self._names.files_named(key.rpartition("/")[2]), key)
        if not found:
            return None
        here = folder_of(source)
        same_folder = [f for f in found if folder_of(f) == here]
        return min(same_folder or found, key=tie_break_key)

    def resolve(self, link: Link, source: str) -> Resolution:
        """Resolve ``link`` written in the note ``source`` (see the module docstring).

        Both halves are memoized: which note a name means (its candidates do not depend on
        the linking note; only the tie-break does), and what a heading path or block id
        reaches in a given note.
        """
        if link.kind == "external":
            return Resolution()
        note, candidates = self.find_note(link.target, source, markdown=link.kind == "markdown")
        if note is None:
            missing = self._missing.get((link.target, source))
            if missing is None:
                missing = self._missing[(link.target, source)] = self._not_a_note(link, source)
            return missing
        if link.block is None and not link.headings:
            return Resolution(note, candidates=candidates)
        key = (note, link.headings, link.block)
        reached = self._inside.get(key)
        if reached is None:
            reached = self._inside[key] = self._reach(note, link.headings, link.block)
        concept, reason = reached
        return Resolution(concept, reason, candidates=candidates)

    def _not_a_note(self, link: Link, source: str) -> Resolution:
        attachment = self.find_attachment(link.target, source)
        if attachment is not None:
            return Resolution(attachment=attachment)
        extension = _EXTENSION.search(link.target.strip())
        if extension and extension.group(1).lower() in ATTACHMENT_EXTENSIONS:
            return Resolution(reason="missing attachment")
        return Resolution(reason="missing note")

    def _reach(
        self, note: str, headings: tuple[str, ...], block: str | None
    ) -> tuple[str, Reason | None]:
        """What a heading path or block id reaches in ``note``: ``(concept id, None)``, or
        ``(note, reason)`` when the heading or block is not there."""
        if block is not None:
            found_block = self.blocks(note).get(block.lower())
            if found_block is None:
                return note, "missing block"
            return self._section_id(note, found_block.section), None
        found = find_heading(headings, self.headings(note), self._keys(note))
        if found is None:
            return note, "missing heading"
        return self._section_id(note, found), None

    def _section_id(self, note: str, index: int) -> str:
        if index < 0:
            return note
        return f"{note}#{self.headings(note)[index].anchor}"


class HeadingKeys:
    """The comparison keys of a note's headings (see :func:`find_heading`): exact-text keys
    at once, loose keys only when a link needs them."""

    __slots__ = ("_headings", "_loose", "exact")

    def __init__(self, headings: list[HeadingRef]) -> None:
        self._headings = headings
        self.exact = [heading_text_key(h.title) for h in headings]
        self._loose: list[str] | None = None

    @property
    def loose(self) -> list[str]:
        """Keys after Obsidian's heading normalization."""
        if self._loose is None:
            self._loose = [heading_key(h.title) for h in self._headings]
        return self._loose


def heading_keys(headings: list[HeadingRef]) -> HeadingKeys:
    """The comparison keys of every heading of one note."""
    return HeadingKeys(headings)


def find_heading(
    path: tuple[str, ...], headings: list[HeadingRef], keys: HeadingKeys | None = None
) -> int | None:
    """Index of the heading a heading path reaches, or None.

    The last element must match the heading; the earlier ones must match its ancestors,
    outermost first, skipping levels freely (Obsidian's ``[[N#A#C]]`` reaches ``C`` under
    ``A`` > ``B``). Exact text is tried before Obsidian's loose normalization. ``keys``
    are the headings' :func:`heading_keys`, when the caller has them cached.
    """
    if not path or not headings:
        return None
    all_keys = keys or heading_keys(headings)
    for key in (heading_text_key, heading_key):
        these = all_keys.exact if key is heading_text_key else all_keys.loose
        want = [key(part) for part in path]
        if want[-1] not in these:
            continue
        for h in headings:
            if these[h.number] != want[-1]:
                continue
            if len(want) == 1 or _has_ancestors(h, want[:-1], these, headings):
                return h.number
    return None


def _has_ancestors(
    heading: HeadingRef, want: list[str], keys: list[str], headings: list[HeadingRef]
) -> bool:
    chain: list[str] = []
    parent = heading.parent
    while parent >= 0:
        chain.append(keys[parent])
        parent = headings[parent].parent
    chain.reverse()
    position = 0
    for part in want:
        try:
            position = chain.index(part, position) + 1
        except ValueError:
            return False
    return True
