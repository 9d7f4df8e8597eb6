"""Terminal output with rich, and the plain dicts behind ``--json``.

Text from notes is data: it is always placed in :class:`rich.text.Text` (never parsed as
console markup) and passed through :func:`aikb.normalize.sanitize`, so ``[bold]x[/bold]``
prints as written and no control character from a note reaches the terminal.

Note bodies are rendered by :class:`aikb.notemarkdown.NoteMarkdown`, rich's Markdown
renderable (in its own module, so commands that print no note body never import rich's
Markdown), fed with tokens from aikb's own parser, rewritten here first: wikilinks show
their label (or target), unresolved ones in red; embeds are transcluded as quotes;
comments and block ids vanish; inline HTML tags vanish but the words inside them stay;
unknown tags show literally; a single line break stays a line break, as in Obsidian's
default reading view; footnote references show as superscript numbers, counted in the
order of first reference as Obsidian's reading view counts them, and each footnote stays
where it is written, after its number.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import unquote

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.padding import Padding
from rich.rule import Rule
from rich.text import Text
from rich.theme import Theme

from aikb.model import Backlink, Concept, ResolvedLink
from aikb.normalize import drop_title_heading, sanitize, sanitize_line

if TYPE_CHECKING:
    from markdown_it.token import Token
    from rich.tree import Tree

    from aikb.check import Finding
    from aikb.graphs import Graph
    from aikb.mentions import Mention
    from aikb.notemarkdown import NoteMarkdown
    from aikb.search import Hit

THEME = Theme(
    {
        "markdown.wikilink": "cyan",
        "markdown.wikilink_broken": "red",
        "markdown.hashtag": "green",
        "markdown.embed": "dim italic",
        "markdown.math": "italic cyan",
        "markdown.mark": "black on yellow",
        "markdown.footnote": "cyan",
        "aikb.title": "bold",
        "aikb.crumb": "dim",
        "aikb.meta": "dim",
        "aikb.heading": "bold underline",
        "aikb.id": "dim cyan",
        "aikb.broken": "red",
        "aikb.external": "blue",
        "aikb.match": "bold yellow",
        "aikb.tag": "green",
    }
)

MAX_EMBED_DEPTH = 4
"""Embeds inside embeds are transcluded this many levels deep, then shown as a placeholder."""
MAX_EMBEDS = 64
"""At most this many transclusions in one rendering (notes embedding notes embedding...)."""

# Tags whose only job is formatting: drop the tag, keep the words between them.
_FORMAT_TAGS = frozenset(
    [
        "font",
        "span",
        "b",
        "i",
        "u",
        "s",
        "em",
        "strong",
        "mark",
        "small",
        "big",
        "sup",
        "sub",
        "del",
        "ins",
        "center",
        "div",
        "p",
        "a",
        "code",
        "kbd",
        "details",
        "summary",
        "abbr",
        "cite",
        "q",
        "tt",
        "strike",
        "section",
        "article",
        "header",
        "footer",
        "nav",
        "aside",
        "blockquote",
        "pre",
        "ul",
        "ol",
        "li",
        "dl",
        "dt",
        "dd",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "table",
        "thead",
        "tbody",
        "tr",
        "td",
        "th",
        "img",
        "figure",
        "figcaption",
        "hr",
        "br",
    ]
)
_TAG = re.compile(r"^<\s*(/?)\s*([A-Za-z][A-Za-z0-9-]*)\b[^<>]*?(/?)\s*>$", re.DOTALL)
_ANY_TAG = re.compile(r"<\s*/?\s*([A-Za-z][A-Za-z0-9-]*)\b[^<>]*>")
_IMAGE_SIZE = re.compile(r"\d+(?:x\d+)?")
_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "center",
        "dd",
        "details",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tr",
        "ul",
    ]
)
"""HTML tags that start a new line when an HTML block is shown as text."""
_HTML_COMMENT = re.compile(r"<!--.*?(-->|$)", re.DOTALL)
_BLOCK_ID_END = re.compile(r"\s*\^[A-Za-z0-9-]+\s*$")
_CALLOUT = re.compile(r"^\[!([A-Za-z-]+)\]([+-]?)\s*")

_Item = TypeVar("_Item")

EmbedSource = Callable[[str, str, tuple[str, ...], "str | None"], "tuple[str, str, str] | None"]
"""Given the embedding note and an embed's (note part, headings, block id), return
(id of what it shows, the note holding it, its Markdown), or None; see ``Index.embed``."""


def make_token(kind: str, tag: str, nesting: Literal[-1, 0, 1], content: str = "") -> Token:
    """A markdown-it token (imported lazily: ``aikb.cli`` must not import markdown_it)."""
    from markdown_it.token import Token

    token = Token(kind, tag, nesting)
    token.content = content
    return token


class RenderContext:
    """What the body renderer needs to know beyond the text: which link texts are broken,
    how to fetch embedded content, which concepts are already being shown (cycles), and
    how many transclusions are left (shared by every level of one rendering)."""

    __slots__ = ("broken", "budget", "embed", "note", "stack")

    def __init__(
        self,
        broken: frozenset[str] = frozenset(),
        embed: EmbedSource | None = None,
        stack: tuple[str, ...] = (),
        budget: list[int] | None = None,
        note: str = "",
    ) -> None:
        self.broken = broken
        self.embed = embed
        self.stack = stack
        self.budget = budget if budget is not None else [MAX_EMBEDS]
        self.note = note

    def inside(self, concept_id: str, note: str) -> RenderContext:
        """The context for content of ``concept_id`` (in ``note``) shown inside this one."""
        return RenderContext(self.broken, self.embed, (*self.stack, concept_id), self.budget, note)


def rewrite(tokens: list[Token], context: RenderContext) -> list[Token]:
    """Turn Obsidian tokens into ones rich's Markdown renderer understands (see module doc)."""
    numbers = _footnote_numbers(tokens)
    out: list[Token] = []
    footnote: str | None = None  # the mark of the footnote definition being entered
    index = 0
    while index < len(tokens):
        token = tokens[index]
        kind = token.type
        if kind == "comment_block":
            index += 1
            continue
        if kind == "footnote_reference_close":
            if footnote is not None:  # an empty footnote: its mark alone
                out.extend(_paragraph(footnote))
                footnote = None
            index += 1
            continue
        if kind == "footnote_reference_open":
            footnote = _footnote_mark(numbers, str(token.meta.get("label", "")))
            index += 1
            continue
        if kind == "inline" and footnote is not None:
            mark = make_token("footnote", "footnote", 0, footnote + " ")
            token.children = [mark, *(token.children or [])]
            footnote = None
        if kind == "html_block":
            text = _html_to_text(token.content)
            if text.strip():
                out.extend(_paragraph(text))
            index += 1
            continue
        if kind == "math_block" or kind == "math_block_label":
            fence = make_token("fence", "code", 0, sanitize(token.content.strip("\n")) + "\n")
            fence.info = "latex"
            out.append(fence)
            index += 1
            continue
        if kind in ("fence", "code_block"):
            token.content = sanitize(token.content)
            out.append(token)
            index += 1
            continue
        if kind == "paragraph_open" and index + 2 < len(tokens):
            inline = tokens[index + 1]
            if _BLOCK_ID_END.fullmatch(
                inline.content.strip()
            ) and inline.content.strip().startswith("^"):
                index += 3  # a paragraph that is only "^block-id"
                continue
        if kind == "inline":
            token.children = _rewrite_inline(token.children or [], context)
            in_paragraph = (
                bool(out)
                and out[-1].type == "paragraph_open"
                and index + 1 < len(tokens)
                and tokens[index + 1].type == "paragraph_close"
            )
            if in_paragraph and any(c.meta.get("blocks") for c in token.children):
                # An embed is a block where it is written: the paragraph is cut around it.
                out.pop()
                for segment, blocks in _split_at_embeds(token.children):
                    out.extend(_paragraph_of(segment))
                    out.extend(blocks)
                index += 2
                continue
            out.append(token)  # in a table cell or heading, an embed stays a one-line mark
            index += 1
            continue
        out.append(token)
        index += 1
    return out


def _split_at_embeds(children: list[Token]) -> list[tuple[list[Token], list[Token]]]:
    """Inline children cut after each transcluding embed: ``(inline tokens up to and
    including the embed's mark, the embedded blocks)``, the rest last with no blocks."""
    parts: list[tuple[list[Token], list[Token]]] = []
    current: list[Token] = []
    for child in children:
        if not current and child.type == "hardbreak":
            continue  # the line break after an embed belongs to the embed
        current.append(child)
        blocks = child.meta.get("blocks")
        if blocks:
            while len(current) > 1 and current[-2].type == "hardbreak":
                current.pop(-2)
            parts.append((current, blocks))
            current = []
    parts.append((current, []))
    return parts


def _paragraph_of(children: list[Token]) -> list[Token]:
    """A paragraph holding these inline tokens, or nothing when they show nothing."""
    while children and children[-1].type == "hardbreak":
        children = children[:-1]
    if not any(c.type != "hardbreak" and (c.content.strip() or c.nesting) for c in children):
        return []
    inline = make_token("inline", "", 0, "")
    inline.children = children
    return [make_token("paragraph_open", "p", 1), inline, make_token("paragraph_close", "p", -1)]


def _paragraph(text: str) -> list[Token]:
    inline = make_token("inline", "", 0, text)
    inline.children = [make_token("text", "", 0, sanitize(text))]
    return [make_token("paragraph_open", "p", 1), inline, make_token("paragraph_close", "p", -1)]


def _html_to_text(html: str) -> str:
    """An HTML block as the words it shows: block tags break lines, table cells are
    spaced apart, other tags vanish; empty lines left by tags are dropped."""

    def tag(match: re.Match[str]) -> str:
        name = match.group(1).lower()
        if name in ("td", "th"):
            return " "
        return "\n" if name in _BLOCK_TAGS else ""

    text = _ANY_TAG.sub(tag, _HTML_COMMENT.sub("", html))
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


_SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _footnote_numbers(tokens: list[Token]) -> dict[str, int]:
    """Footnote label -> its number, counted from 1 in the order of first reference (as
    Obsidian's reading view numbers them; the footnote plugin's ``id`` counts from 0)."""
    numbers: dict[str, int] = {}
    for token in tokens:
        for child in token.children or ():
            if child.type == "footnote_ref":
                numbers.setdefault(str(child.meta.get("label")), int(child.meta["id"]) + 1)
    return numbers


def _footnote_mark(numbers: dict[str, int], label: str) -> str:
    """How a footnote reference or definition shows: its number in superscript digits,
    or, for a definition nothing refers to, its label as written (``[^label]``)."""
    number = numbers.get(label)
    return _superscript(number) if number else f"[^{sanitize_line(label)}]"


def _superscript(number: int) -> str:
    """A footnote number as Obsidian's reading view shows it, in superscript digits."""
    return str(number).translate(_SUPERSCRIPTS)


def _rewrite_inline(children: list[Token], context: RenderContext) -> list[Token]:
    out: list[Token] = []
    for position, child in enumerate(children):
        kind = child.type
        if kind == "footnote":  # the mark rewrite() puts before a footnote's text
            out.append(child)
        elif kind == "footnote_ref":
            number = _superscript(int(child.meta["id"]) + 1)  # the plugin counts from 0
            out.append(make_token("footnote", "footnote", 0, number))
        elif kind == "text":
            content = child.content
            if position == len(children) - 1:
                content = _BLOCK_ID_END.sub("", content)
            if position == 0 and out == []:
                callout = _CALLOUT.match(content)
                if callout:
                    out.append(make_token("strong", "strong", 0))
                    out.append(make_token("text", "", 0, callout.group(1).upper() + " "))
                    content = content[callout.end() :]
            child.content = sanitize(content)
            out.append(child)
        elif kind == "softbreak":
            # Obsidian shows a single line break as a line break ("strict line breaks" off).
            out.append(make_token("hardbreak", "br", 0))
        elif kind == "code_inline":
            child.content = sanitize(child.content)
            out.append(child)
        elif kind in ("math_inline", "math_inline_double"):
            out.append(make_token("math", "math", 0, sanitize(child.content)))
        elif kind == "wikilink":
            meta = child.meta
            label = meta["label"]
            if meta["embed"] and label and _IMAGE_SIZE.fullmatch(label):
                label = None  # ![[pic.png|200]] or |640x480: a display size, not a label
            label = label or _link_title(meta["target"], meta["headings"], meta["block"])
            block = meta["block"]
            written = meta["target"] + (
                "#^" + block if block else "".join("#" + h for h in meta["headings"])
            )
            if meta["embed"]:
                tag = "wikilink_broken" if written in context.broken else "embed"
                mark = make_token(tag, tag, 0, sanitize(f"⤷ {label}"))
                mark.meta["blocks"] = _transclude(meta, context)
                out.append(mark)
            else:
                broken = written in context.broken
                tag = "wikilink_broken" if broken else "wikilink"
                out.append(make_token(tag, tag, 0, sanitize(label)))
        elif kind == "tag":
            out.append(make_token("hashtag", "hashtag", 0, sanitize(child.content)))
        elif kind == "comment":
            continue
        elif kind == "html_inline":
            out.extend(_inline_html(child))
        elif kind == "image":
            alt = sanitize(child.content or unquote(str(child.attrs.get("src", ""))))
            out.append(make_token("embed", "embed", 0, f"🖼 {alt}"))
        else:
            if child.content:
                child.content = sanitize(child.content)
            out.append(child)
    return out


def _inline_html(token: Token) -> list[Token]:
    raw = token.content
    if raw.startswith("<!--"):
        return []
    match = _TAG.match(raw)
    if match and match.group(2).lower() in _FORMAT_TAGS:
        if match.group(2).lower() == "br":
            return [make_token("hardbreak", "br", 0)]
        if match.group(2).lower() == "kbd":
            return [token]  # rich styles <kbd> itself
        return []
    # Not a formatting tag: "<Ctrl>" or "0<x and y>5" are words the user wrote.
    return [make_token("text", "", 0, sanitize(raw))]


def _link_title(target: str, headings: Sequence[str], block: str | None) -> str:
    if headings:
        return headings[-1] if not target else f"{target} › {' › '.join(headings)}"
    if block:
        return f"{target or 'this note'} › ^{block}"
    return target


def _transclude(meta: dict[str, Any], context: RenderContext) -> list[Token]:
    """Tokens of embedded content, as a quote, or a placeholder at a cycle or depth limit."""
    if context.embed is None:
        return []
    found = context.embed(context.note, meta["target"], tuple(meta["headings"]), meta["block"])
    if found is None:
        return []
    concept_id, note, markdown = found
    if concept_id in context.stack:
        return _quote(_paragraph(f"⟲ embed cycle: {concept_id} is already shown above"))
    if len(context.stack) >= MAX_EMBED_DEPTH:
        return _quote(
            _paragraph(f"… embed of {concept_id} not shown (deeper than {MAX_EMBED_DEPTH})")
        )
    if context.budget[0] <= 0:
        return _quote(_paragraph(f"… embed of {concept_id} not shown (over {MAX_EMBEDS} embeds)"))
    context.budget[0] -= 1
    from aikb.syntax import parser

    # Links inside the embedded text are not this note's: none of them is marked broken.
    inner = context.inside(concept_id, note)
    inner.broken = frozenset()
    return _quote(rewrite(parser().parse(markdown), inner))


def _quote(tokens: list[Token]) -> list[Token]:
    return [
        make_token("blockquote_open", "blockquote", 1),
        *tokens,
        make_token("blockquote_close", "blockquote", -1),
    ]


# -- show ------------------------------------------------------------------------------


def text(value: str, style: str = "") -> Text:
    """One-line user data (a name, path, title or snippet) as a rich Text: literal (no
    markup), control characters and line breaks made visible."""
    return Text(sanitize_line(value), style=style)


def title_block(concept: Concept) -> Group:
    """The breadcrumb title line and the meta line (kind, path:line, aliases, tags)."""
    crumb = Text()
    for position, part in enumerate(concept.breadcrumb):
        if position:
            crumb.append(" › ", "aikb.crumb")
        last = position == len(concept.breadcrumb) - 1
        crumb.append_text(text(part, "aikb.title" if last else "aikb.crumb"))
    meta = Text(style="aikb.meta")
    meta.append(concept.kind)
    meta.append(" · ")
    meta.append_text(text(f"{concept.path}:{concept.line}"))
    lines: list[RenderableType] = [crumb, meta]
    if concept.aliases:
        aliases = Text("aliases: ", style="aikb.meta")
        aliases.append_text(text(", ".join(concept.aliases)))
        lines.append(aliases)
    if concept.tags:
        tags = Text("tags: ", style="aikb.meta")
        tags.append_text(text(" ".join("#" + t for t in concept.tags), "aikb.tag"))
        lines.append(tags)
    return Group(*lines)


def body_markdown(content: str, concept: Concept, context: RenderContext) -> NoteMarkdown:
    """The concept's body for display, without the line the title block already shows: a
    section's heading, or a note's leading ``# Title`` when it repeats the note's name."""
    if not concept.is_note and content:
        content = content.split("\n", 1)[1] if "\n" in content else ""
    elif content:
        content = drop_title_heading(content, concept.title)
    from aikb.notemarkdown import NoteMarkdown

    return NoteMarkdown(
        content.strip("\n"),
        RenderContext(context.broken, context.embed, (concept.id,), context.budget, concept.note),
        hyperlinks=True,
    )


class KeptEnd:
    """One line, ``main`` then ``end``; when it is too wide, ``main`` is shortened (with
    ``…``) so that ``end`` (a ``:line``, a ``path:line``) always shows."""

    def __init__(self, main: Text, end: Text) -> None:
        self.main = main
        self.end = end

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        main = self.main.copy()
        room = options.max_width - self.end.cell_len
        if main.cell_len > room:
            main.truncate(max(room, 8), overflow="ellipsis")
        line = main + self.end
        line.no_wrap, line.overflow = True, "ellipsis"
        yield line


def link_lines(links: Iterable[ResolvedLink], titles: dict[str, str]) -> list[RenderableType]:
    """One line per outgoing link: its target title, or the raw target marked unresolved;
    its ``:line`` always shows."""
    rows: list[RenderableType] = []
    for item in links:
        link = item.link
        row = Text("  ")
        if link.kind == "external":
            row.append("↗ ", "aikb.external")
            row.append_text(text(link.target, "aikb.external"))
        elif item.reason:
            row.append("✗ ", "aikb.broken")
            row.append_text(text(link.text, "aikb.broken"))
            row.append(f"  ({item.reason})", "aikb.broken")
        elif item.resolved:
            row.append("→ ")
            row.append_text(text(titles.get(item.resolved, item.resolved)))
        elif item.attachment:
            row.append("📎 ")
            row.append_text(text(item.attachment))
        end = Text(f"  :{link.line}", "aikb.meta")
        if link.kind == "embed":
            end.append("  embed", "aikb.meta")
        if item.candidates:
            row.append(f"  (also: {', '.join(item.candidates)})", "aikb.meta")
        rows.append(KeptEnd(row, end))
    return rows


def backlink_lines(backlinks: Iterable[Backlink]) -> list[RenderableType]:
    """One line per backlink: source concept and path:line (always shown), then the line's
    text, dimmed."""
    rows: list[RenderableType] = []
    for item in backlinks:
        row = Text("  ← ")
        row.append_text(text(item.source))
        rows.append(KeptEnd(row, text(f"  {item.path}:{item.line}", "aikb.meta")))
        if item.text:
            quote = text(f"      {item.text}", "aikb.meta")
            quote.no_wrap, quote.overflow = True, "ellipsis"
            rows.append(quote)
    return rows


def section(title: str, count: int) -> Text:
    """A small heading such as ``Links (3)``."""
    return Text(f"{title} ({count})", style="aikb.heading")


MAX_BODY = 100_000
"""``show`` renders at most this many characters of a body (rich takes ~6 s per MB)."""
MAX_ROWS = 200
"""``show`` lists at most this many links, external links and backlinks each."""


def _clip(content: str) -> tuple[str, int]:
    """The start of a very long body, cut at a line end, and how many lines were left out."""
    if len(content) <= MAX_BODY:
        return content, 0
    cut = content.rfind("\n", 0, MAX_BODY)
    cut = cut if cut > 0 else MAX_BODY
    return content[:cut], content.count("\n", cut) + 1


def _capped(rows: list[RenderableType], total: int) -> list[RenderableType]:
    """Rows, "none" when there are none, and a last line saying how many were not shown."""
    if not total:
        return [Text("  none", style="aikb.meta")]
    if total > MAX_ROWS:
        rows.append(Text(f"  … and {total - MAX_ROWS} more (--json lists all)", style="aikb.meta"))
    return rows


class ShowView:
    """Everything ``show`` prints for one concept, as one renderable."""

    def __init__(
        self,
        concept: Concept,
        content: str,
        links: Sequence[ResolvedLink],
        backlinks: Sequence[Backlink],
        titles: dict[str, str],
        context: RenderContext,
        expanded: Sequence[tuple[Concept, str]] = (),
    ) -> None:
        self.concept = concept
        self.content = content
        self.links = links
        self.backlinks = backlinks
        self.titles = titles
        self.context = context
        self.expanded = expanded

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield title_block(self.concept)
        yield Rule(style="aikb.meta")
        content, hidden = _clip(self.content)
        yield body_markdown(content, self.concept, self.context)
        if hidden:
            lines = "line" if hidden == 1 else "lines"
            yield Text(
                f"… {hidden} more {lines} not shown; --raw prints them all", style="aikb.meta"
            )
        yield Text()
        internal = [link for link in self.links if link.link.kind != "external"]
        external = [link for link in self.links if link.link.kind == "external"]
        yield section("Links", len(internal))
        yield from _capped(link_lines(internal[:MAX_ROWS], self.titles), len(internal))
        if external:
            yield section("External links", len(external))
            yield from _capped(link_lines(external[:MAX_ROWS], self.titles), len(external))
        yield section("Backlinks", len(self.backlinks))
        rows = backlink_lines(self.backlinks[:MAX_ROWS])
        yield from _capped(rows, len(self.backlinks))
        for concept, content in self.expanded:
            yield Text()
            yield Rule(style="aikb.meta")
            yield title_block(concept)
            yield body_markdown(content, concept, self.context)


def show_json(
    concept: Concept, content: str, links: Sequence[ResolvedLink], backlinks: Sequence[Backlink]
) -> dict[str, Any]:
    """The documented ``show --json`` object."""
    return {
        "id": concept.id,
        "title": concept.title,
        "kind": concept.kind,
        "note": concept.path,
        "line": concept.line,
        "names": list(concept.names),
        "aliases": list(concept.aliases),
        "tags": list(concept.tags),
        "content": content,
        "links": [
            {
                "target": item.link.text,
                "resolved": item.resolved,
                "kind": item.link.kind,
                "line": item.link.line,
                "reason": item.reason,
            }
            for item in links
        ],
        "backlinks": [{"source": b.source, "line": b.line, "text": b.text} for b in backlinks],
    }


# -- search and list -------------------------------------------------------------------


class SearchView:
    """Search results: rank, concept and note, where it matched, and the snippet with the
    matching words highlighted; a table on wide terminals, stacked below 70 columns."""

    def __init__(self, hits: Sequence[Hit]) -> None:
        self.hits = hits

    def _snippet(self, hit: Hit) -> Text:
        snippet = text(hit.snippet)
        for start, end in hit.spans:
            snippet.stylize("aikb.match", start, end)
        return snippet

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if options.max_width < 70:
            for rank, hit in enumerate(self.hits, 1):
                head = Text(f"{rank}. ", style="aikb.meta")
                head.append_text(text(hit.concept.title, "bold"))
                head.append(f"  {hit.matched}", "aikb.meta")
                yield head
                yield text(f"   {hit.concept.path}", "aikb.meta")
                yield Padding(self._snippet(hit), (0, 0, 0, 3))
            return
        from rich.table import Table

        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        table.add_column("#", justify="right", style="aikb.meta", no_wrap=True)
        # Folded, not cut with an ellipsis: a run of Chinese or Japanese text is one long
        # "word" to rich, and cutting it lost the very words that matched.
        table.add_column("concept", ratio=2, overflow="fold")
        table.add_column("matched", style="aikb.meta", no_wrap=True)
        table.add_column("snippet", ratio=3, overflow="fold")
        for rank, hit in enumerate(self.hits, 1):
            concept_cell = text(hit.concept.title, "bold")
            concept_cell.append("\n")
            concept_cell.append_text(text(hit.concept.path, "aikb.meta"))
            table.add_row(str(rank), concept_cell, hit.matched, self._snippet(hit))
        yield table


def search_json(hits: Sequence[Hit]) -> list[dict[str, Any]]:
    """The documented ``search --json`` list."""
    return [
        {
            "id": h.concept.id,
            "title": h.concept.title,
            "score": h.score,
            "matched": h.matched,
            "snippet": h.snippet,
        }
        for h in hits
    ]


TITLE_FIT = 24
"""Widest concept title (cells) ``list`` makes room for before it drops other columns
(longer ones wrap)."""
COLUMN_FIT = 20
"""Widest aliases or note path (cells) ``list`` makes room for; longer ones end in ``…``."""
GRID_ROWS = 300
"""Reports (``check``, ``mentions``) lay a note's rows out as a grid up to this many rows."""


class ListView:
    """The concepts table (title, kind, aliases, note, links, backlinks), fitted to the
    width: when the columns would not fit at a readable width (titles up to
    :data:`TITLE_FIT` cells, aliases and note paths up to :data:`COLUMN_FIT`), the note
    column goes first, then aliases (a caption says so); counts are never cut."""

    def __init__(
        self, concepts: Sequence[Concept], out_counts: dict[str, int], back_counts: dict[str, int]
    ) -> None:
        self.concepts = concepts
        self.out_counts = out_counts
        self.back_counts = back_counts

    def _fits(self, width: int) -> tuple[bool, bool]:
        """``(aliases fit, note fits too)`` at ``width`` cells."""
        from rich.cells import cell_len

        concepts = self.concepts
        title = min(max((cell_len(c.title) + _indent(c) for c in concepts), default=0), TITLE_FIT)
        aliases = max((cell_len(", ".join(c.aliases)) for c in concepts), default=0)
        note = max((cell_len(c.path) for c in concepts), default=0)
        counts = len("links") + len("backlinks")
        needed = [max(title, 10), len("kind"), counts]
        with_aliases = [*needed, min(max(aliases, len("aliases")), COLUMN_FIT)]
        with_note = [*with_aliases, min(max(note, len("note")), COLUMN_FIT)]

        def fits(columns: list[int]) -> bool:
            return sum(columns) + 2 * len(columns) <= width  # 2: the gap after each column

        return fits(with_aliases), fits(with_note)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        medium, wide = self._fits(width)
        from rich.table import Table

        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        if not wide:
            hidden = "note" if medium else "note and aliases"
            table.caption = f"{hidden} not shown at this width; --json has all"
            table.caption_style = "aikb.meta"
        table.add_column("concept", ratio=4, min_width=10, overflow="fold")
        table.add_column("kind", no_wrap=True, style="aikb.meta", min_width=4)
        if medium:
            table.add_column("aliases", ratio=3, min_width=8, overflow="ellipsis")
        if wide:
            table.add_column("note", ratio=2, min_width=8, style="aikb.meta", overflow="ellipsis")
        table.add_column("links" if medium else "→", justify="right", no_wrap=True)
        table.add_column("backlinks" if medium else "←", justify="right", no_wrap=True)
        for concept in self.concepts:
            indent = min(_indent(concept), width // 8)
            title = text(concept.title, "bold" if concept.is_note else "")
            cells: list[RenderableType] = [Padding(title, (0, 0, 0, indent)), concept.kind]
            if medium:
                cells.append(text(", ".join(concept.aliases)))
            if wide:
                cells.append(text(concept.path))
            cells += [
                str(self.out_counts.get(concept.id, 0)),
                str(self.back_counts.get(concept.id, 0)),
            ]
            table.add_row(*cells)
        yield table


def _indent(concept: Concept) -> int:
    """How far ``list`` indents a concept: two cells per heading level below H1."""
    return 0 if concept.is_note else 2 * max(concept.level - 1, 0)


def list_json(
    concepts: Sequence[Concept], out_counts: dict[str, int], back_counts: dict[str, int]
) -> list[dict[str, Any]]:
    """The documented ``list --json`` list."""
    return [
        {
            "id": c.id,
            "title": c.title,
            "kind": c.kind,
            "note": c.path,
            "aliases": list(c.aliases),
            "links": out_counts.get(c.id, 0),
            "backlinks": back_counts.get(c.id, 0),
        }
        for c in concepts
    ]


def _by_path(items: Iterable[_Item], key: Callable[[_Item], str]) -> list[tuple[str, list[_Item]]]:
    """Consecutive items with the same key, grouped (items come sorted by that key)."""
    groups: list[tuple[str, list[_Item]]] = []
    for item in items:
        value = key(item)
        if not groups or groups[-1][0] != value:
            groups.append((value, []))
        groups[-1][1].append(item)
    return groups


def check_report(findings: Sequence[Finding]) -> Group:
    """``aikb check`` for people: ``line  kind  message`` under each note's path; long
    messages wrap inside their column."""
    from rich.table import Table

    width = max((len(f.kind) for f in findings), default=0)
    parts: list[RenderableType] = []
    for path, group in _by_path(findings, lambda f: f.note):
        if len(group) > GRID_ROWS:  # a table this long takes seconds to lay out: plain lines
            lines = Text("\n").join(_finding_line(f, width) for f in group)
            _add_group(parts, path, lines)
            continue
        grid = Table.grid(padding=(0, 2))
        grid.add_column(justify="right", style="aikb.meta", no_wrap=True, min_width=5)
        grid.add_column(no_wrap=True, min_width=width)
        grid.add_column(overflow="fold")
        for finding in group:
            style = "aikb.broken" if finding.kind.startswith("missing") else "yellow"
            message = finding.message
            if message.startswith(finding.kind):  # "invalid front matter (...)": say it once
                message = message[len(finding.kind) :].strip()
            grid.add_row(
                str(finding.line) if finding.line else "", text(finding.kind, style), text(message)
            )
        _add_group(parts, path, grid)
    return Group(*parts)


def _finding_line(finding: Finding, width: int) -> Text:
    """One finding as a line (``line  kind  message``), for reports too long for a grid."""
    line = Text(f"{finding.line or '':>5}  ", style="aikb.meta")
    style = "aikb.broken" if finding.kind.startswith("missing") else "yellow"
    line.append_text(text(finding.kind.ljust(width), style))
    message = finding.message
    if message.startswith(finding.kind):
        message = message[len(finding.kind) :].strip()
    line.append("  ")
    line.append_text(text(message))
    return line


def _add_group(parts: list[RenderableType], path: str, grid: RenderableType) -> None:
    """A note's path in bold, then its rows indented; a blank line between notes, none
    after the last, and no padding to the terminal's width (piped output stays tidy)."""
    if parts:
        parts.append(Text(""))
    parts.append(text(path, "bold"))
    parts.append(Padding(grid, (0, 0, 0, 2), expand=False))


# -- graph ------------------------------------------------------------------------------

_EDGE_ARROWS = {"link": "→", "embed": "⤷", "section": "§"}


def graph_tree(graph: Graph) -> Tree:
    """A graph as a rich Tree.

    Around a concept: the concept at the root, then each neighbour once, where it was first
    reached: ``→`` a link, ``⤷`` an embed, ``←`` a backlink, ``§`` a subsection, ``↑``
    the enclosing section; unresolved targets in red. The whole vault: notes at the root,
    their sections nested, and each concept's outgoing links as leaves.
    """
    from rich.tree import Tree

    titles = {node.id: node for node in graph.nodes}

    def label(node_id: str, arrow: str = "") -> Text:
        node = titles.get(node_id)
        row = Text(f"{arrow} " if arrow else "", style="aikb.meta")
        if node is None:
            row.append_text(text(node_id))
            return row
        style = (
            "aikb.broken" if node.kind == "unresolved" else ("bold" if node.kind == "note" else "")
        )
        row.append_text(text(node.title, style))
        if node.kind == "unresolved":
            row.append("  (unresolved)", "aikb.broken")
        elif node.title != node.id:
            row.append_text(text(f"  {node.id}", "aikb.id"))
        return row

    out_edges: dict[str, list[tuple[str, str]]] = {}
    in_edges: dict[str, list[tuple[str, str]]] = {}
    for edge in graph.edges:
        out_edges.setdefault(edge.source, []).append((edge.target, edge.kind))
        in_edges.setdefault(edge.target, []).append((edge.source, edge.kind))

    if graph.root is not None:
        tree = Tree(label(graph.root))
        placed = {graph.root}
        frontier = [(graph.root, tree)]
        while frontier:
            following = []
            for node_id, branch in frontier:
                steps = [(t, _EDGE_ARROWS.get(k, "→")) for t, k in out_edges.get(node_id, [])]
                steps += [(s, "↑" if k == "section" else "←") for s, k in in_edges.get(node_id, [])]
                for other, arrow in steps:
                    if other in placed:
                        continue
                    placed.add(other)
                    following.append((other, branch.add(label(other, arrow))))
            frontier = following
        return tree

    tree = Tree(Text(f"{sum(n.kind == 'note' for n in graph.nodes)} notes", style="aikb.meta"))

    def grow(node_id: str, branch: Tree) -> None:
        for target, kind in out_edges.get(node_id, []):
            if kind == "section":
                grow(target, branch.add(label(target)))
            else:
                branch.add(label(target, _EDGE_ARROWS.get(kind, "→")))

    for node in graph.nodes:
        if node.kind == "note":
            grow(node.id, tree.add(label(node.id)))
    return tree


# -- mentions ---------------------------------------------------------------------------


def _window(line: str, start: int, width: int = 100) -> tuple[str, int]:
    """At most ``width`` characters of ``line`` around offset ``start``, beginning on a word:
    ``(snippet, shift)``, where ``offset + shift`` is an offset's place in the snippet."""
    first = max(start - width // 3, 0)
    if first:
        space = line.find(" ", first, start)
        first = space + 1 if space >= 0 else first
    last = min(first + width, len(line))
    prefix = "…" if first else ""
    suffix = "…" if last < len(line) else ""
    return prefix + line[first:last] + suffix, len(prefix) - first


def _mention_snippet(mention: Mention) -> tuple[str, int, int]:
    """The text around a mention and the match's span in it."""
    snippet, shift = _window(mention.text, mention.start)
    return snippet, mention.start + shift, mention.end + shift


def mentions_report(found: Sequence[Mention]) -> Group:
    """Unlinked mentions grouped by note: ``line  snippet``, every mention on the line
    highlighted (one row per line)."""
    from rich.table import Table

    parts: list[RenderableType] = []
    for path, group in _by_path(found, lambda m: m.path):
        grid = Table.grid(padding=(0, 2))
        grid.add_column(justify="right", style="aikb.meta", no_wrap=True, min_width=5)
        grid.add_column(overflow="fold")
        for _, same_line in _by_path(group, lambda m: f"{m.line}\n{m.text}"):
            first = same_line[0]
            snippet, shift = _window(first.text, first.start)
            body = text(snippet)
            for mention in same_line:
                body.stylize("aikb.match", mention.start + shift, mention.end + shift)
            grid.add_row(str(first.line), body)
        _add_group(parts, path, grid)
    return Group(*parts)


def mentions_json(found: Sequence[Mention]) -> list[dict[str, Any]]:
    """The documented ``mentions --json`` list: ``{note, line, source, name, snippet,
    start, end}``, ``start``/``end`` being the match's offsets in ``snippet``."""
    out = []
    for mention in found:
        snippet, start, end = _mention_snippet(mention)
        out.append(
            {
                "note": mention.path,
                "line": mention.line,
                "source": mention.source,
                "name": mention.name,
                "snippet": snippet,
                "start": start,
                "end": end,
            }
        )
    return out


def __getattr__(name: str) -> Any:
    """``aikb.render.NoteMarkdown``, imported on first use (PEP 562)."""
    if name == "NoteMarkdown":
        from aikb.notemarkdown import NoteMarkdown

        return NoteMarkdown
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
