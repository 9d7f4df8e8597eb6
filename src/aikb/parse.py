"""Pure functions from a note's text to a :class:`~aikb.model.ParsedNote`.

Nothing here touches the file system: :func:`parse_note` takes the text of one note and
returns its front matter names and tags, sections, links, block ids and tags, with file
line numbers. The vault layer (``vault.py``) reads files and calls it.
"""

from __future__ import annotations

import bisect
import re
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import unquote

import yaml
from frontmatter.default_handlers import YAMLHandler

from aikb.model import Block, Link, ParsedNote, Problem, Section, Tag
from aikb.normalize import collapse, heading_text_key, name_key, normalize_text, strip_escapes
from aikb.syntax import parser, split_wikilink

if TYPE_CHECKING:
    from markdown_it.token import Token

try:  # libyaml is several times faster where PyYAML was built with it
    from yaml import CBaseLoader as _Loader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import BaseLoader as _Loader  # type: ignore[assignment]

_EXTERNAL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_BLOCK_ID = re.compile(r"(?:^|\s)\^([A-Za-z0-9-]+)\s*$")
_QUALIFIER = re.compile(r"\s*(?:\([^()]*\)|（[^（）]*）)\s*$")
_DECORATION = re.compile(r"^[\s*•·>\-–—]+")
_LINK_BREAKERS = re.compile(r"\[\[|\]\]|[|#^]")
_LINE_BREAK = re.compile(r"[ \t]*\r?\n[ \t]*")
_NAME_SEPARATORS = ",，、"
"""What separates the names a heading lists: a comma, the full-width comma and the
ideographic comma of Chinese and Japanese text."""
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
MAX_NAMES = 64


class _StrictYAML(YAMLHandler):
    """python-frontmatter's YAML handler with Obsidian's delimiter: exactly ``---``."""

    FM_BOUNDARY = re.compile(r"^---[ \t]*$", re.MULTILINE)


_HANDLER = _StrictYAML()


class FrontMatter(NamedTuple):
    """The front matter of a note, split off its body.

    ``data`` is the YAML mapping with every scalar kept as the text the user typed (None
    when there is no front matter or it is invalid); ``body_line`` is the 1-based file line
    where ``body`` starts; ``raw`` is the YAML text; ``problem`` explains a rejected block.
    """

    data: dict[str, Any] | None
    body: str
    body_line: int
    raw: str = ""
    problem: Problem | None = None


def split_front_matter(text: str) -> FrontMatter:
    """Split YAML front matter off a note (text already passed through :func:`normalize_text`).

    Only a ``---`` on line 1 with a closing ``---`` line opens front matter (Obsidian's
    rule). The YAML is loaded with PyYAML's base loader, so ``no``, ``10:30`` and
    ``012345`` stay the strings the user typed. Invalid YAML gives ``data=None`` and a
    problem naming its line; the body after the block is still the body. A block that
    parses but is not a mapping (a paragraph between two rules) is body text, with a problem.
    """
    if not _HANDLER.detect(text):
        return FrontMatter(None, text, 1)
    try:
        raw, body = _HANDLER.split(text)
    except ValueError:  # no closing delimiter: the first line is a thematic break
        return FrontMatter(None, text, 1)
    body_line = text.count("\n", 0, len(text) - len(body)) + 1
    if body.startswith("\n"):
        body = body[1:]
        body_line += 1
    try:
        data = yaml.load(raw, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        what = getattr(exc, "problem", None) or "cannot be parsed"
        message = f"invalid front matter ({what}); properties ignored"
        problem = Problem("", line, message, "invalid front matter")
        return FrontMatter(None, body, body_line, raw, problem)
    if data is None or data == "":
        return FrontMatter({}, body, body_line, raw)
    if not isinstance(data, dict):
        message = "front matter block is not a YAML mapping; read as text"
        problem = Problem("", 1, message, "invalid front matter")
        return FrontMatter(None, text, 1, "", problem)
    return FrontMatter(data, body, body_line, raw)


def _strings(value: Any, limit: int = MAX_NAMES) -> list[str]:
    """Flatten a YAML value (string, list, nested lists) into at most ``limit`` strings."""
    out: list[str] = []
    stack = [value]
    while stack and len(out) < limit:
        item = stack.pop(0)
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, list):
            stack[:0] = item
    return out


def _get(data: dict[str, Any], *keys: str) -> Any:
    lowered = {str(k).lower(): v for k, v in data.items()}
    for key in keys:
        if key in lowered:
            return lowered[key]
    return None


def front_matter_aliases(data: dict[str, Any]) -> tuple[str, ...]:
    """Aliases from front matter, as Obsidian reads them.

    ``aliases`` (or the older singular ``alias``) as a YAML list, where each item is one
    alias even if it holds a comma, or as a string of comma-separated aliases. Empty
    values and YAML nulls give nothing.
    """
    value = _get(data, "aliases", "alias")
    items = value.split(",") if isinstance(value, str) else _strings(value)
    seen: dict[str, str] = {}
    for item in items:
        alias = collapse(item)
        if alias not in _NULLS and name_key(alias) not in seen:
            seen[name_key(alias)] = alias
    return tuple(seen.values())


def front_matter_tags(data: dict[str, Any]) -> tuple[str, ...]:
    """Tags from front matter: ``tags`` (or ``tag``) as a list or a comma/space separated string.

    A leading ``#`` is dropped, as Obsidian does when it reads the property.
    """
    value = _get(data, "tags", "tag")
    items = re.split(r"[,\s]+", value) if isinstance(value, str) else _strings(value)
    tags: list[str] = []
    for item in items:
        for word in item.split():
            word = word.lstrip("#").strip()
            if word and word not in _NULLS and word not in tags:
                tags.append(word)
    return tuple(tags)


def heading_names(title: str, plain: str | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Lookup names and aliases of a heading: ``(names, aliases)``, names title first.

    ``plain`` is the heading as it reads once rendered (see :func:`_plain_text`): links
    show their text, so ``## [[PKM|Knowledge management]]`` is found as ``Knowledge
    management`` and ``## Setup [guide](https://x.org/a_(b))`` as ``Setup guide``, and a
    URL's parentheses are never taken for a qualifier. Names and aliases come from it;
    the title as written stays a name too.

    A heading may list several names for one concept, separated by commas, and end with
    a parenthesised qualifier: ``Context window, Контекстное окно (flow)`` has the aliases
    ``Context window`` and ``Контекстное окно``, and is also found as ``Context window,
    Контекстное окно``; ``Fine-tuning (flow)`` has the alias ``Fine-tuning``. Commas inside
    parentheses do not split. Full-width ``，`` and ``、`` separate names and ``（…）`` is a
    qualifier too, as Chinese and Japanese headings write them. Decoration before the
    text (``*  ``, ``- ``) is dropped from aliases, so ``\\*  Оценка LLM`` is also found
    as ``Оценка LLM``.
    """
    text = title if plain is None else plain
    base = _QUALIFIER.sub("", text)
    parts = _split_top_level(base)
    alias_candidates = [_QUALIFIER.sub("", p) for p in parts] if parts else [base]
    aliases = _unique([_DECORATION.sub("", a) for a in alias_candidates], exclude=(title, text))
    names = _unique([title, text, base, *aliases])
    return names[:MAX_NAMES], aliases[:MAX_NAMES]


def _link_safe(title: str) -> str:
    """A heading title with the characters a wikilink cannot hold (``[[ ]] | # ^``) as spaces."""
    if not _LINK_BREAKERS.search(title):
        return title
    return collapse(_LINK_BREAKERS.sub(" ", title)) or "(untitled)"


def _plain_text(children: list[Token]) -> str:
    """A heading's inline tokens as the heading reads: text and code as written, a link
    as its label (a wikilink without one as its target), embeds, images, HTML tags and
    comments left out, escapes resolved, lines joined."""
    out: list[str] = []
    for child in children:
        kind = child.type
        if kind == "wikilink":
            meta = child.meta
            if not meta.get("embed"):
                shown = " ".join([meta.get("target") or "", *meta.get("headings", ())])
                out.append(meta.get("label") or shown.strip())
        elif kind in ("text", "code_inline", "text_special", "math_inline"):
            out.append(child.content)
        elif kind in ("softbreak", "hardbreak"):
            out.append(" ")
    return collapse("".join(out))


def _unique(items: list[str], exclude: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Collapsed, non-empty strings, first of each :func:`name_key` kept, ``exclude`` left out."""
    seen: dict[str, str] = {}
    skip = {name_key(text) for text in exclude}
    for item in items:
        item = collapse(item)
        key = name_key(item)
        if item and key not in skip and key not in seen:
            seen[key] = item
    return tuple(seen.values())


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch in "([{（":
            depth += 1
        elif ch in ")]}）":
            depth = max(0, depth - 1)
        if ch in _NAME_SEPARATORS and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()] if len(parts) > 1 else []


class _Lines:
    """Newlines before an offset of one inline source, counted incrementally: links come
    in increasing offset order, so the whole source is scanned once (at C speed)."""

    __slots__ = ("_count", "_pos", "_text")

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0
        self._count = 0

    def before(self, pos: int) -> int:
        if pos < self._pos:
            self._pos, self._count = 0, 0
        self._count += self._text.count("\n", self._pos, pos)
        self._pos = pos
        return self._count


def _markdown_link(href: str) -> tuple[str, tuple[str, ...], str | None] | None:
    """Split a local Markdown link target into (path, headings, block), or None if external."""
    if _EXTERNAL.match(href) or href.startswith("//"):
        return None
    path, _, fragment = href.partition("#")
    path = unquote(path).strip()
    fragment = unquote(fragment).strip()
    if path.startswith("<") and path.endswith(">"):
        path = path[1:-1]
    headings: tuple[str, ...] = ()
    block = None
    if fragment.startswith("^"):
        block = fragment[1:] or None
    elif fragment:
        headings = tuple(p.strip() for p in fragment.split("#") if p.strip())
    if not path and not headings and block is None:
        return None
    return path, headings, block


def parse_note(text: str) -> ParsedNote:
    """Parse one note's text into sections, links, block ids, tags and front-matter names.

    ``text`` is the whole file as a string (BOM and CRLF are handled). Headings come from
    markdown-it tokens (ATX and setext, top level only, so ``#`` lines in code are not
    headings); links and tags from the parser rules in :mod:`aikb.syntax`. Never raises on
    any string; problems (bad front matter) are returned in ``ParsedNote.problems``.
    """
    text = normalize_text(text)
    line_count = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    fm = split_front_matter(text)
    problems = [fm.problem] if fm.problem else []
    data = fm.data or {}
    aliases = front_matter_aliases(data)
    title_value = _get(data, "title")
    title = collapse(title_value) if isinstance(title_value, str) else None
    tags = [Tag(t) for t in front_matter_tags(data)]

    base = fm.body_line  # file line of body line 0
    tokens = parser(lean=True).parse(fm.body)

    sections = _sections(tokens, base, max(line_count, base))
    starts = [s.line for s in sections]

    def section_at(line: int) -> int:
        return bisect.bisect_right(starts, line) - 1

    links: list[Link] = _property_links(fm.raw) if fm.data else []
    blocks: list[Block] = []
    stack: list[Token] = []
    previous: Token | None = None  # the last closed block at the current nesting level
    in_heading = False
    for token in tokens:
        if token.nesting == 1:
            stack.append(token)
            in_heading = token.type == "heading_open"
            continue
        if token.nesting == -1:
            opener = stack.pop() if stack else None
            previous = opener
            in_heading = False
            continue
        if token.type != "inline" or token.map is None:
            previous = token
            continue
        block_line = token.map[0] + base
        lines = _Lines(token.content)
        for child in token.children or ():
            kind = child.type
            if kind == "wikilink":
                meta = child.meta
                line = block_line + lines.before(meta["pos"])
                links.append(
                    Link(
                        "embed" if meta["embed"] else "wikilink",
                        meta["target"],
                        meta["headings"],
                        meta["block"],
                        meta["label"],
                        line,
                        section_at(line),
                    )
                )
            elif kind in ("link_open", "image"):
                href = str(child.attrs.get("href") or child.attrs.get("src") or "")
                if not href:
                    continue
                line = block_line + lines.before(child.meta.get("pos", 0))
                local = _markdown_link(href)
                label = child.content if kind == "image" else None
                if local is None:
                    links.append(
                        Link("external", href, label=label, line=line, section=section_at(line))
                    )
                else:
                    path, headings, block = local
                    links.append(
                        Link(
                            "embed" if kind == "image" else "markdown",
                            path,
                            headings,
                            block,
                            label,
                            line,
                            section_at(line),
                        )
                    )
            elif kind == "tag" and not in_heading:
                line = block_line + lines.before(child.meta["pos"])
                tags.append(Tag(child.meta["name"], line, section_at(line)))
        parent = stack[-1] if len(stack) > 1 else None
        found = _block_id(token, stack, parent, previous, base)
        if found is not None:
            blocks.append(Block(found[0], found[1], found[2], section_at(found[1])))
    links.sort(key=lambda link: link.line)
    return ParsedNote(
        body=fm.body,
        body_line=base,
        line_count=line_count,
        aliases=aliases,
        title=title,
        tags=tuple(tags),
        sections=tuple(sections),
        links=tuple(links),
        blocks=tuple(blocks),
        problems=tuple(problems),
        front_matter_error=fm.problem.message if fm.problem else None,
        front_matter=fm.raw,
    )


def _block_id(
    token: Token, stack: list[Token], parent: Token | None, previous: Token | None, base: int
) -> tuple[str, int, int] | None:
    """The block id a paragraph ends with, and the lines of the block it names.

    Obsidian: `` ^id`` at the end of a paragraph names that paragraph, or the list item
    holding it; a paragraph that is only ``^id`` names the block just before it.
    """
    if not stack or stack[-1].type != "paragraph_open":
        return None
    children = token.children or []
    if not children or children[-1].type != "text":
        return None
    match = _BLOCK_ID.search(children[-1].content)
    if not match:
        return None
    block_id = match.group(1)
    target: Token | None = stack[-1]
    if token.content.strip() == "^" + block_id and previous is not None:
        target = previous if previous.map else target
    else:
        for opener in reversed(stack):
            if opener.type == "list_item_open":
                target = opener
                break
    if target is None or target.map is None:
        return None
    return block_id, target.map[0] + base, target.map[1] - 1 + base


def _sections(tokens: list[Token], base: int, last_line: int) -> list[Section]:
    """Top-level headings as sections with line ranges, parents and unique anchors."""
    raw: list[tuple[int, str, int]] = []
    plain: list[str] = []
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.level == 0 and token.map:
            inline = tokens[index + 1]
            # A setext heading may span lines: its title is one line, as Obsidian shows it.
            title = _LINE_BREAK.sub(" ", strip_escapes(inline.content).strip())
            raw.append((int(token.tag[1]), title or "(untitled)", token.map[0] + base))
            plain.append(_plain_text(inline.children or []))
    parents: list[int] = []
    ends = [last_line] * len(raw)
    open_stack: list[int] = []
    for index, (level, _, line) in enumerate(raw):
        while open_stack and raw[open_stack[-1]][0] >= level:
            ends[open_stack.pop()] = line - 1
        parents.append(open_stack[-1] if open_stack else -1)
        open_stack.append(index)
    anchors = _anchors(raw, parents)
    sections = []
    for i, (level, title, line) in enumerate(raw):
        names, aliases = heading_names(title, plain[i])
        sections.append(
            Section(level, title, line, ends[i], parents[i], anchors[i], names, aliases)
        )
    return sections


def _anchors(raw: list[tuple[int, str, int]], parents: list[int]) -> list[str]:
    """The id part after ``note#``: the title, or the heading path where the title repeats.

    A repeated heading gets its full path (``A#Setup``, ``B#Setup``), which Obsidian
    resolves to that very heading; a path that still repeats gets `` (2)``, `` (3)``...
    Characters that would end or split a wikilink (``[[ ]] | # ^``) become spaces, as
    Obsidian writes a link to such a heading, so an id can always be pasted as a link.
    """
    safe = [_link_safe(title) for _, title, _ in raw]
    counts: dict[str, int] = {}
    for title in safe:
        key = heading_text_key(title)
        counts[key] = counts.get(key, 0) + 1
    anchors: list[str] = []
    used: set[str] = set()
    next_number: dict[str, int] = {}
    for index, title in enumerate(safe):
        if counts[heading_text_key(title)] == 1:
            anchor = title
        else:
            path = [title]
            parent = parents[index]
            while parent >= 0:
                path.append(safe[parent])
                parent = parents[parent]
            anchor = "#".join(reversed(path))
        candidate = anchor
        key = heading_text_key(anchor)
        if key in used:
            n = next_number.get(key, 2)
            while heading_text_key(candidate := f"{anchor} ({n})") in used:
                n += 1
            next_number[key] = n + 1
        used.add(heading_text_key(candidate))
        anchors.append(candidate)
    return anchors


def _property_links(raw: str) -> list[Link]:
    """Wikilinks written in front matter properties (``related: "[[A]]"``), line by line."""
    links: list[Link] = []
    if "[[" not in raw:
        return links
    md = parser(lean=True)
    for offset, line_text in enumerate(raw.split("\n")):
        if "[[" not in line_text:
            continue
        for token in md.parseInline(line_text):
            for child in token.children or ():
                if child.type == "wikilink":
                    meta = child.meta
                    links.append(
                        Link(
                            "embed" if meta["embed"] else "wikilink",
                            meta["target"],
                            meta["headings"],
                            meta["block"],
                            meta["label"],
                            offset + 1,
                        )
                    )
    return links


__all__ = [
    "FrontMatter",
    "front_matter_aliases",
    "front_matter_tags",
    "heading_names",
    "normalize_text",
    "parse_note",
    "split_front_matter",
    "split_wikilink",
]
