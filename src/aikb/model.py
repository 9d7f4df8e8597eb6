"""The data aikb works with: notes and sections as parsed, links as written and as resolved.

Everything here is a small immutable record (a ``NamedTuple``: cheap to import, which
matters for start-up) with no I/O, so the parser, the index and
the renderer can pass them around (and across processes) freely.

Line numbers are 1-based line numbers of the note's *file*, front matter included, so
``path:line`` always points at the right place in an editor.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

LinkKind = Literal["wikilink", "embed", "markdown", "external"]
"""How a link is written: ``[[T]]``, ``![[T]]``, ``[x](T.md)``, or an ``http(s)://`` URL."""

Reason = Literal["missing note", "missing heading", "missing block", "missing attachment"]
"""Why a link does not resolve."""

NOTE_KIND = "note"


class Link(NamedTuple):
    """A link as written in a note, before resolution.

    ``target`` is the note part (``"Some Note"``, ``"folder/Some Note.md"``, ``"../x.md"``),
    empty for a same-note link such as ``[[#Heading]]``; for an external link it is the URL.
    ``headings`` is the heading path (``[[T#H1#H2]]`` gives ``("H1", "H2")``), ``block`` the
    block id without its caret. ``section`` is the index into ``ParsedNote.sections`` of the
    innermost section holding the link, or -1 when it precedes the first heading (or sits in
    the front matter).
    """

    kind: LinkKind
    target: str
    headings: tuple[str, ...] = ()
    block: str | None = None
    label: str | None = None
    line: int = 1
    section: int = -1

    @property
    def subpath(self) -> str:
        """The part after the note name as Obsidian writes it: ``#H1#H2``, ``#^id`` or ``""``."""
        if self.block is not None:
            return "#^" + self.block
        return "".join("#" + h for h in self.headings)

    @property
    def text(self) -> str:
        """The link target as written, without label or brackets (``Note#Heading``)."""
        if self.kind == "external":
            return self.target
        return self.target + self.subpath


class Section(NamedTuple):
    """A heading and the lines it owns.

    A section runs from its heading line to the line before the next heading of the same
    or a higher level (``end_line`` inclusive), so it contains its subsections. ``parent``
    is the index of the enclosing section or -1. ``anchor`` is the part of the concept id
    after ``note#``: the title, or the whole heading path when the title repeats in the note.
    ``names`` are the lookup names (the title first); ``aliases`` the other names the
    heading lists (``Context window, Контекстное окно (flow)``: ``Context window`` and
    ``Контекстное окно``), see :func:`aikb.parse.heading_names`.
    """

    level: int
    title: str
    line: int
    end_line: int
    parent: int
    anchor: str
    names: tuple[str, ...]
    aliases: tuple[str, ...] = ()


class Block(NamedTuple):
    """A block carrying an Obsidian block id (``... ^id``): the lines it spans."""

    id: str
    line: int
    end_line: int
    section: int


class Tag(NamedTuple):
    """A tag without its ``#``, and where it was found (line 0 for front matter tags)."""

    name: str
    line: int = 0
    section: int = -1


class Problem(NamedTuple):
    """A warning about a file: vault-relative path, line (0 when it concerns the whole file).

    ``kind`` groups problems for ``aikb check``: ``invalid front matter``, ``encoding``
    (bytes that are not UTF-8 text) or ``unreadable file``.
    """

    path: str
    line: int
    message: str
    kind: str = "unreadable file"

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


class ParsedNote(NamedTuple):
    """What parsing one note's text produced; pure data, independent of where the file is.

    ``body`` is the Markdown after the front matter, with LF line ends; its first line is
    line ``body_line`` of the file. ``line_count`` counts the file's lines.
    ``problems`` carry an empty path; the vault layer fills it in. ``front_matter`` is the
    raw YAML between the delimiters (it starts on file line 2).
    """

    body: str
    body_line: int
    line_count: int
    aliases: tuple[str, ...] = ()
    title: str | None = None
    tags: tuple[Tag, ...] = ()
    sections: tuple[Section, ...] = ()
    links: tuple[Link, ...] = ()
    blocks: tuple[Block, ...] = ()
    problems: tuple[Problem, ...] = ()
    front_matter_error: str | None = None
    front_matter: str = ""


class Concept(NamedTuple):
    """A note or a heading section, as the index knows it.

    ``id`` is wikilink-style (``AI-flow``, ``AI-flow#Fine-tuning (flow)``,
    ``AI-flow#Parent#Child`` when a heading text repeats); ``note`` is the note id and
    ``path`` the vault-relative file path. ``kind`` is ``"note"`` or ``"H1"``..``"H6"``,
    ``level`` 0 for a note. ``aliases`` are front-matter aliases for a note and the names a
    heading lists for a section. ``parent`` is the id of the enclosing concept (the note for
    a top section), None for a note.
    """

    id: str
    note: str
    path: str
    kind: str
    level: int
    title: str
    line: int
    end_line: int
    parent: str | None
    names: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    breadcrumb: tuple[str, ...] = ()

    @property
    def is_note(self) -> bool:
        """True for a whole note, False for a heading section."""
        return self.level == 0


class ResolvedLink(NamedTuple):
    """A link with what it reached.

    ``source`` is the id of the concept holding the link. ``resolved`` is the id of the
    concept it reaches, or None (external links, attachments, links to missing notes or
    attachments). ``reason`` says why it is broken; with ``missing heading`` or ``missing
    block`` it still reaches its note, as in Obsidian (``resolved`` is the note's id).
    ``attachment`` is the vault-relative path of a non-note file it reached;
    ``candidates`` lists the other notes an ambiguous note name could mean.
    """

    source: str
    link: Link
    resolved: str | None
    reason: Reason | None = None
    attachment: str | None = None
    candidates: tuple[str, ...] = ()
    note: str = ""
    path: str = ""

    @property
    def is_broken(self) -> bool:
        """True when the link should reach something inside the vault and does not."""
        return self.reason is not None


class Backlink(NamedTuple):
    """A link into a concept: the concept holding it, its line, and that line's text."""

    source: str
    line: int
    text: str
    path: str = ""
    target: str = ""
