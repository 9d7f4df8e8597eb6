"""A markdown-it-py parser that knows Obsidian's syntax.

On top of CommonMark with tables, strikethrough and ``$``/``$$`` math, it adds inline and
block rules that produce these tokens (data in ``token.meta``):

``wikilink``   ``[[T]]``, ``[[T|label]]``, ``[[T#H1#H2]]``, ``[[#H]]``, ``[[T#^id]]``;
               ``![[T]]`` is the same token with ``meta["embed"] = True``.
``tag``        ``#tag``, ``#nested/tag`` (``meta["name"]``).
``comment``    ``%% ... %%`` inside a paragraph; ``comment_block`` for one spanning lines.
``highlight_open``/``highlight_close`` around ``==text==``.
bare URLs      ``https://...`` in text become ``link_open``/``text``/``link_close``
               with ``markup == "bare"``.

Because these are parser rules, nothing inside code spans, fenced or indented code,
math, HTML comments or Obsidian comments is ever seen as a link or a tag. Every
link-like token records ``meta["pos"]``, its offset in the inline source, so callers can
compute its line.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.rules_block import StateBlock
    from markdown_it.rules_core import StateCore
    from markdown_it.rules_inline import StateInline

InlineRule = Callable[["StateInline", bool], bool]
BlockRule = Callable[["StateBlock", int, int, bool], bool]
_Rule = TypeVar("_Rule", InlineRule, BlockRule)

_SCHEME = re.compile(r"(?:^|[^A-Za-z0-9.+-])(https?|ftp)\Z", re.IGNORECASE)
_URL_TAIL = re.compile(r"://[^\s<>\"`]+")
_URL_TRAILING = ".,;:!?*'\"»”’"
_STARTS = {
    "bare_url": ":",
    "math_inline": "$",
    "escape": "\\",
    "backticks": "`",
    "wikilink": "![",
    "obsidian_comment": "%",
    "tag": "#",
    "link": "[",
    "image": "!",
    "footnote_ref": "[",
    "autolink": "<",
    "html_inline": "<",
}
"""The characters each inline rule of the lean parser can match at: the first thing
each one checks."""
_BLOCK_STARTS: dict[str, str | None] = {
    "table": None,  # its test is on the next line
    "code": None,
    "math_block": "$",
    "obsidian_comment": "%",
    "fence": "`~",
    "blockquote": ">",
    "hr": "*-_",
    "list": "*-+0123456789",
    "footnote_def": "[",
    "reference": "[",
    "html_block": "<",
    "heading": "#",
    "lheading": None,
    "paragraph": None,
}
"""The first non-space character of a line each block rule can match at (CommonMark's
block starts), or None for a rule that can match at any."""
_LEAN_STOPS = re.compile("[" + re.escape("".join(sorted({*"".join(_STARTS.values()), "]"}))) + "]")
"""Where a rule of the lean parser can start (:data:`_STARTS`), or a link label end
(``]``)."""
MAX_LINK = 2048
"""Longest link, in characters, the parser looks for (keeps pathological text linear)."""


@cache
def parser(lean: bool = False) -> MarkdownIt:
    """The shared parser (built once per process and variant: building costs ~1 ms).

    ``lean=True`` is the variant for indexing: it finds exactly the same links, tags,
    headings and blocks, but skips what only display needs (emphasis, strikethrough,
    highlights, entities, line breaks, URL percent-encoding), which makes it ~20% faster.
    """
    # Imported here: modules that only need split_wikilink stay free of markdown_it.
    from markdown_it import MarkdownIt, rules_inline
    from mdit_py_plugins.dollarmath import dollarmath_plugin
    from mdit_py_plugins.footnote import footnote_plugin

    md = MarkdownIt("commonmark", {"html": True, "typographer": False})
    md.enable(["table", "strikethrough"])
    dollarmath_plugin(md, allow_space=False, allow_digits=False, double_inline=True)
    # Footnotes (``[^1]`` and ``[^1]: text``) stay where they are written, so their links
    # keep their lines and sections. Inline footnotes (``^[text]``) stay text: the plugin
    # would take their content out of the line it is on.
    footnote_plugin(md, inline=False, move_to_end=False)
    md.inline.ruler.at("math_inline", _math_inline)  # the plugin's misreads "$x$" at pos 0
    # Obsidian starts a $$ block on the line after text too: let it interrupt a paragraph.
    rules = md.block.ruler.__rules__
    math_block = rules[md.block.ruler.__find__("math_block")].fn
    md.block.ruler.at(
        "math_block",
        _silenced(math_block),
        {"alt": ["paragraph", "reference", "blockquote", "list"]},
    )
    md.block.ruler.before(
        "fence",
        "obsidian_comment",
        _comment_block,
        {"alt": ["paragraph", "reference", "blockquote", "list"]},
    )
    md.inline.ruler.before("link", "wikilink", _wikilink)
    md.inline.ruler.before("link", "obsidian_comment", _comment_inline)
    md.inline.ruler.before("link", "tag", _tag)
    md.inline.ruler.before("link", "highlight", _highlight)
    md.inline.ruler.before("linkify", "bare_url", _bare_url)
    md.inline.ruler.at("link", _remember_pos(rules_inline.link))
    md.inline.ruler.at("image", _remember_pos(rules_inline.image))
    md.inline.ruler.at("autolink", _remember_pos(rules_inline.autolink))
    if lean:
        md.disable(["emphasis", "strikethrough", "entity", "newline", "highlight"])
        md.inline.ruler.at("text", _lean_text)
        _dispatch_by_first_character(md)
        _dispatch_blocks_by_first_character(md)
        md.core.ruler.at("inline", _lean_inline)
        md.normalizeLink = _same  # type: ignore[method-assign]
        md.normalizeLinkText = _same  # type: ignore[method-assign,assignment]
    return md


def _silenced(rule: BlockRule) -> BlockRule:
    """A block rule that honours ``silent`` (the dollarmath plugin's pushes its token even
    when only asked whether it would match, as a paragraph asks of its next line)."""

    def wrapped(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
        if not silent:
            return rule(state, start_line, end_line, False)
        line, count = state.line, len(state.tokens)
        found = rule(state, start_line, end_line, False)
        del state.tokens[count:]
        state.line = line
        return found

    return wrapped


def _lean_text(state: StateInline, silent: bool) -> bool:
    """markdown-it's plain-text rule for the lean parser: it runs on to the next character
    where a rule still enabled could match, instead of stopping at every punctuation mark
    that only emphasis, entities or typography care about."""
    pos = state.pos
    found = _LEAN_STOPS.search(state.src, pos, state.posMax)
    end = found.start() if found else state.posMax
    if end == pos:
        return False
    if not silent:
        append = getattr(state, "append_pending", None)  # markdown-it-py >= 4: no copying
        if append is not None:
            append(state.src[pos:end])
        else:
            state.pending += state.src[pos:end]
    state.pos = end
    return True


def _dispatch_by_first_character(md: MarkdownIt) -> None:
    """Make the lean parser try, at each position, only the inline rules that can match
    at the character there, in their usual order. markdown-it tries every rule in turn:
    11 calls at each ``]`` or ``:`` that starts nothing (2.7% of the indexing work).
    Raises KeyError for an inline rule not in :data:`_STARTS` (a test builds the parser)."""
    enabled = [rule for rule in md.inline.ruler.__rules__ if rule.enabled and rule.name != "text"]
    table, _ = _by_first_character([(rule.fn, _STARTS[rule.name]) for rule in enabled])

    def dispatch(state: StateInline, silent: bool) -> bool:
        for rule in table.get(state.src[state.pos], ()):  # noqa: SIM110 - any() is slower
            if rule(state, silent):
                return True
        return False

    md.inline.ruler.after("text", "dispatch", dispatch)
    md.inline.ruler.disable([rule.name for rule in enabled])


def _dispatch_blocks_by_first_character(md: MarkdownIt) -> None:
    """Make the lean parser try, at each line, only the block rules that can match at
    its first non-space character (:data:`_BLOCK_STARTS`), in their usual order, in
    every chain of rules (a new block, and the rules that may end a paragraph, list,
    quote or reference). markdown-it tries all 13 in turn at each block start: a line of
    text reached the paragraph rule after 11 calls that each fail at its first
    character (8% of the instructions spent per note in the benchmark vault). Only for
    a parser whose rules no longer change (the chains are built once). Raises KeyError,
    at the first parse, for a block rule not in :data:`_BLOCK_STARTS`."""
    ruler = md.block.ruler
    rule_names = {id(rule.fn): rule.name for rule in ruler.__rules__}
    chains: dict[str, list[BlockRule]] = {}
    rules_of = ruler.getRules

    def dispatcher(chain: str) -> BlockRule:
        table, anywhere = _by_first_character(
            [(fn, _BLOCK_STARTS[rule_names[id(fn)]]) for fn in rules_of(chain)]
        )
        at = table.get

        def dispatch(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
            begin = state.bMarks[start_line] + state.tShift[start_line]
            for rule in at(state.src[begin : begin + 1], anywhere):
                if rule(state, start_line, end_line, silent):
                    return True
            return False

        return dispatch

    def get_rules(chain: str) -> list[BlockRule]:
        found = chains.get(chain)
        if found is None:
            found = chains[chain] = [dispatcher(chain)]
        return found

    ruler.getRules = get_rules  # type: ignore[method-assign,assignment]


def _by_first_character(
    rules: list[tuple[_Rule, str | None]],
) -> tuple[dict[str, list[_Rule]], list[_Rule]]:
    """For dispatching on a character: rules with the characters they can start at (None:
    any) give ``(character -> the rules that can match there, in order; the rules that
    can match anywhere)``."""
    anywhere = [rule for rule, starts in rules if starts is None]
    table = {
        char: [rule for rule, starts in rules if starts is None or char in starts]
        for char in "".join(starts for _, starts in rules if starts)
    }
    return table, anywhere


def _lean_inline(state: StateCore) -> None:
    """markdown-it's core step that parses every inline token, for the lean parser: text
    with no character where a lean rule can start (:data:`_LEAN_STOPS`, as in a plain
    heading or sentence) becomes the one ``text`` child the inline parser would make of
    it, without running the parser (43% of the inline tokens of the benchmark vault)."""
    from markdown_it.token import Token

    md, env = state.md, state.env
    for token in state.tokens:
        if token.type != "inline":
            continue
        if token.children is None:
            token.children = []
        content = token.content
        if _LEAN_STOPS.search(content) is not None:
            md.inline.parse(content, md, env, token.children)
        elif content:
            child = Token("text", "", 0)
            child.content = content
            token.children.append(child)


def _same(url: str) -> str:
    """Identity: the indexer URL-decodes link targets itself."""
    return url


def _remember_pos(rule: InlineRule) -> InlineRule:
    """Wrap a built-in inline rule so the tokens it pushes carry ``meta["pos"]``.

    The rule also sees at most :data:`MAX_LINK` characters ahead: markdown-it's link label
    scan is quadratic on text such as ``[[[[...`` (each ``[`` scans to the end), and no real
    link is that long.
    """

    def wrapped(state: StateInline, silent: bool) -> bool:
        start = state.pos
        count = len(state.tokens)
        limit = state.posMax
        if state.src.find("]", start, min(limit, start + MAX_LINK)) < 0:
            return False  # no label can close: skip the character-by-character scan
        state.posMax = min(limit, start + MAX_LINK)
        try:
            found = rule(state, silent)
        finally:
            state.posMax = limit
        if found and not silent:
            for token in state.tokens[count:]:
                if token.type in ("link_open", "image") and "pos" not in token.meta:
                    token.meta["pos"] = start
                    break
        return found

    return wrapped


def split_wikilink(inner: str) -> tuple[str, tuple[str, ...], str | None, str | None]:
    r"""Split the text between ``[[`` and ``]]`` into (note, headings, block id, label).

    Follows Obsidian: the label starts at the first ``|`` (``\|``, as written inside
    tables, counts too); the note part ends at the first ``#``; further ``#`` separate a
    heading path and empty parts are dropped (``N##Setup`` is ``N#Setup``); a part
    starting with ``^`` is a block id. Whitespace around each part is trimmed.
    """
    inner = inner.replace("\\|", "|")
    target, bar, label = inner.partition("|")
    note, _, sub = target.partition("#")
    headings: list[str] = []
    block: str | None = None
    for part in sub.split("#") if sub else ():
        part = part.strip()
        if part.startswith("^") and len(part) > 1:
            block = part[1:]
        elif part:
            headings.append(part)
    label_text = label.strip() if bar else None
    return note.strip(), tuple(headings), block, label_text or None


def _wikilink(state: StateInline, silent: bool) -> bool:
    src, pos = state.src, state.pos
    if src.startswith("![[", pos):
        embed, start = True, pos + 3
    elif src.startswith("[[", pos):
        embed, start = False, pos + 2
    else:
        return False
    stop = min(state.posMax, start + MAX_LINK)
    end = src.find("]]", start, stop)
    if end < 0:
        return False
    inner = src[start:end]
    # "[[a [[b]]" is text then a link to b, "[[[x]]]" a bracket then [[x]]; links never
    # span lines.
    if not inner.strip() or "\n" in inner or "[[" in inner or inner.startswith("["):
        return False
    if not silent:
        note, headings, block, label = split_wikilink(inner)
        token = state.push("wikilink", "", 0)
        token.content = inner
        token.markup = src[pos : end + 2]
        token.meta = {
            "target": note,
            "headings": headings,
            "block": block,
            "label": label,
            "embed": embed,
            "pos": pos,
        }
    state.pos = end + 2
    return True


def _comment_inline(state: StateInline, silent: bool) -> bool:
    src, pos = state.src, state.pos
    if not src.startswith("%%", pos):
        return False
    end = src.find("%%", pos + 2)
    # Obsidian hides everything after an unclosed %%; within a paragraph, hide the rest.
    stop = state.posMax if end < 0 else end + 2
    if not silent:
        token = state.push("comment", "", 0)
        token.content = src[pos:stop]
        token.meta = {"pos": pos}
    state.pos = stop
    return True


def _comment_block(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    if state.sCount[start_line] - state.blkIndent >= 4:
        return False
    begin = state.bMarks[start_line] + state.tShift[start_line]
    first = state.src[begin : state.eMarks[start_line]]
    if not first.startswith("%%"):
        return False
    rest = first[2:]
    close = rest.find("%%")
    if close >= 0 and rest[close + 2 :].strip():
        return False  # "%%a%% text": an inline comment inside a paragraph
    if silent:
        return True
    line = start_line
    if close < 0:
        line += 1
        while line < end_line:
            text = state.src[state.bMarks[line] + state.tShift[line] : state.eMarks[line]]
            if "%%" in text:
                break
            line += 1
    next_line = min(line + 1, end_line)
    token = state.push("comment_block", "", 0)
    token.map = [start_line, next_line]
    token.content = state.getLines(start_line, next_line, 0, True)
    state.line = next_line
    return True


def is_tag_char(ch: str) -> bool:
    """True for a character Obsidian allows in a tag name.

    Letters and digits of any script, combining marks, ``_ - /``, and emoji (symbols,
    their modifiers, variation selectors and zero-width joiners).
    """
    if ch.isalnum() or ch in "_-/\u200d\ufe0f":
        return True
    category = unicodedata.category(ch)
    return category in ("Mn", "Mc", "Me", "So", "Sk") and ch not in "`^"


def _tag(state: StateInline, silent: bool) -> bool:
    src, pos = state.src, state.pos
    if src[pos] != "#" or (pos > 0 and not src[pos - 1].isspace()):
        return False
    end = pos + 1
    stop = state.posMax
    while end < stop and is_tag_char(src[end]):
        end += 1
    name = src[pos + 1 : end].rstrip("/")
    # "#1984" is not a tag: Obsidian needs one character that is not a digit.
    if not name or name[0] == "/" or all(ch.isdigit() or ch in "-/" for ch in name):
        return False
    if not silent:
        token = state.push("tag", "", 0)
        token.content = src[pos : pos + 1 + len(name)]
        token.meta = {"name": name, "pos": pos}
    state.pos = pos + 1 + len(name)
    return True


def _math_inline(state: StateInline, silent: bool) -> bool:
    """Inline math as Obsidian (and pandoc) read it: ``$x$`` and ``$$x$$``.

    The opening ``$`` must be followed by a non-space, the closing one preceded by a
    non-space and not followed by a digit, so ``$5 and $10`` stays text. ``$$`` is
    display math wherever it is: spaces and line breaks inside are fine (``$$ x $$``),
    only blank content is not. ``\\$`` is a literal dollar (the escape rule sees it
    first).
    """
    src, pos, stop = state.src, state.pos, state.posMax
    if src[pos] != "$":
        return False
    double = src.startswith("$$", pos)
    start = pos + (2 if double else 1)
    if start >= stop or (not double and src[start].isspace()):
        return False
    close = "$$" if double else "$"
    search = start
    while True:
        end = src.find(close, search, stop)
        if end < 0 or end == start:
            return False
        if src[end - 1] == "\\" or (
            not double and (src[end - 1].isspace() or (end + 1 < stop and src[end + 1].isdigit()))
        ):
            search = end + 1
            continue
        break
    if double and not src[start:end].strip():
        return False
    if not silent:
        token = state.push("math_inline_double" if double else "math_inline", "math", 0)
        token.content = src[start:end]
        token.markup = close
    state.pos = end + len(close)
    return True


_SCANNING = "aikb: looking for the end of a highlight"
"""Key set in a parse's ``env`` while :func:`_highlight_end` scans (no highlight nests)."""


def _highlight(state: StateInline, silent: bool) -> bool:
    """Obsidian's ``==highlighted text==``: ``highlight_open``, the inner tokens (links
    inside still count), ``highlight_close``. It ends at the first ``==`` that is not
    inside a code span, comment, link or other token of its own (see
    :func:`_highlight_end`), so that it never changes what those are: the indexing
    parser, which has no highlights, must find the same ones."""
    src, pos = state.src, state.pos
    if not src.startswith("==", pos) or pos + 2 >= state.posMax or src[pos + 2].isspace():
        return False
    if state.env.get(_SCANNING) or src.find("==", pos + 2, state.posMax) < 0:
        return False
    end = _highlight_end(state, pos + 2, min(state.posMax, pos + MAX_LINK))
    if end < 0:
        return False
    if not silent:
        state.push("highlight_open", "mark", 1)
        limit = state.posMax
        state.pos, state.posMax = pos + 2, end
        state.md.inline.tokenize(state)
        state.posMax = limit
        state.push("highlight_close", "mark", -1)
    state.pos = end + 2
    return True


def _highlight_end(state: StateInline, start: int, limit: int) -> int:
    """Where the highlight opened before ``start`` ends: the first ``==`` after a
    non-space, stepping over whole tokens as markdown-it's link label search does
    (``skipToken``), up to ``limit``; -1 if there is none. Leaves the state as it was."""
    src = state.src
    pos, pos_max, cache = state.pos, state.posMax, state.cache
    state.pos, state.posMax, state.cache = start, limit, {}
    state.env[_SCANNING] = True
    try:
        while state.pos < limit:
            at = state.pos
            if src.startswith("==", at) and at > start and not src[at - 1].isspace():
                return at
            state.md.inline.skipToken(state)
        return -1
    finally:
        state.pos, state.posMax, state.cache = pos, pos_max, cache
        del state.env[_SCANNING]


def _bare_url(state: StateInline, silent: bool) -> bool:
    """``https://...`` in running text: recorded as an external link (no linkify-it needed)."""
    src, pos = state.src, state.pos
    if state.linkLevel > 0 or not src.startswith("://", pos):
        return False
    match = _SCHEME.search(state.pending)
    if not match:
        return False
    tail = _URL_TAIL.match(src, pos)
    if not tail:
        return False
    url_tail = tail.group().rstrip(_URL_TRAILING)
    while url_tail.endswith(")") and url_tail.count(")") > url_tail.count("("):
        url_tail = url_tail[:-1].rstrip(_URL_TRAILING)
    if len(url_tail) <= 3:
        return False
    scheme = match.group(1)
    if not silent:
        state.pending = state.pending[: -len(scheme)]
        url = scheme + url_tail
        token = state.push("link_open", "a", 1)
        token.attrs = {"href": url}
        token.markup = "bare"
        token.meta = {"pos": pos - len(scheme)}
        token = state.push("text", "", 0)
        token.content = url
        token = state.push("link_close", "a", -1)
        token.markup = "bare"
    state.pos = pos + len(url_tail)
    return True
