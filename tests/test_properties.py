"""Property tests: random Markdown never breaks anything, and every well-formed link
written outside code and comments is found, exactly once, in order."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it.rules_core import StateCore
from markdown_it.rules_core.text_join import text_join
from markdown_it.token import Token
from rich.console import Console

from aikb.check import check
from aikb.index import Index
from aikb.parse import parse_note
from aikb.render import NoteMarkdown, RenderContext
from aikb.search import search
from aikb.syntax import parser

WORD = st.text(alphabet="abcxyzабвгдёжЖЯ0123456789", min_size=1, max_size=8)
NAME = st.lists(WORD, min_size=1, max_size=3).map(" ".join)
BLOCK_ID = st.text(alphabet="abc123-", min_size=1, max_size=6).filter(lambda s: s.strip("-"))

Expected = tuple[str, str, tuple[str, ...], str | None, str | None]


@st.composite
def wikilink(draw: st.DrawFn, in_table: bool = False) -> tuple[str, Expected]:
    """A well-formed wikilink and what parsing it must give."""
    target = draw(NAME)
    kind = draw(st.sampled_from(["plain", "label", "heading", "path", "block", "local"]))
    embed = draw(st.booleans())
    headings: tuple[str, ...] = ()
    block = None
    label = None
    inner = target
    if kind == "label":
        label = draw(NAME)
        bar = "\\|" if in_table else "|"
        inner = f"{target}{bar}{label}"
    elif kind == "heading":
        headings = (draw(NAME),)
        inner = f"{target}#{headings[0]}"
    elif kind == "path":
        headings = (draw(NAME), draw(NAME))
        inner = f"{target}#{headings[0]}#{headings[1]}"
    elif kind == "block":
        block = draw(BLOCK_ID)
        inner = f"{target}#^{block}"
    elif kind == "local":
        target = ""
        headings = (draw(NAME),)
        inner = f"#{headings[0]}"
    text = f"{'!' if embed else ''}[[{inner}]]"
    return text, ("embed" if embed else "wikilink", target, headings, block, label)


@st.composite
def inline(draw: st.DrawFn, in_table: bool = False) -> tuple[str, list[Expected]]:
    """A line of text mixing words, live links, and link-like text that must not count."""
    parts: list[str] = []
    found: list[Expected] = []
    for _ in range(draw(st.integers(1, 6))):
        choice = draw(st.sampled_from(["word", "link", "code", "comment", "math", "html"]))
        if choice == "word":
            parts.append(draw(NAME))
        elif choice == "link":
            text, expected = draw(wikilink(in_table))
            parts.append(text)
            found.append(expected)
        elif choice == "code":
            parts.append(f"`[[{draw(NAME)}]]`")
        elif choice == "comment":
            parts.append(f"%%[[{draw(NAME)}]]%%")
        elif choice == "math":
            parts.append(f"$[[{draw(NAME)}]]$")
        else:
            parts.append(f"<span>{draw(NAME)}</span>")
    return " ".join(parts), found


@st.composite
def document(draw: st.DrawFn) -> tuple[str, list[Expected]]:
    """A note: optional front matter, then headings, paragraphs, lists, tables, code."""
    lines: list[str] = []
    found: list[Expected] = []
    if draw(st.booleans()):
        lines += ["---", f"aliases: [{draw(NAME)}]", f"tags: [{draw(WORD)}]", "---", ""]
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(
            st.sampled_from(
                ["heading", "para", "list", "table", "fence", "comment", "quote", "html"]
            )
        )
        if kind == "heading":
            lines += [f"{'#' * draw(st.integers(1, 6))} {draw(NAME)}", ""]
        elif kind == "para":
            text, links = draw(inline())
            lines += [text, ""]
            found += links
        elif kind == "list":
            for _ in range(draw(st.integers(1, 3))):
                text, links = draw(inline())
                lines.append(f"- {text}")
                found += links
            lines.append("")
        elif kind == "quote":
            text, links = draw(inline())
            lines += [f"> {text}", ""]
            found += links
        elif kind == "table":
            lines += ["| a | b |", "|---|---|"]
            for _ in range(draw(st.integers(1, 3))):
                text, links = draw(inline(in_table=True))
                lines.append(f"| {draw(NAME)} | {text} |")
                found += links
            lines.append("")
        elif kind == "fence":
            lines += ["```", f"[[{draw(NAME)}]] #{draw(WORD)}", "```", ""]
        elif kind == "comment":
            lines += ["%%", f"[[{draw(NAME)}]]", "%%", ""]
        else:
            lines += ["<!--", f"[[{draw(NAME)}]]", "-->", ""]
    return "\n".join(lines), found


@settings(max_examples=300, deadline=None)
@given(document())
def test_links_found_equal_links_written(doc: tuple[str, list[Expected]]) -> None:
    text, expected = doc
    note = parse_note(text)
    got = [(link.kind, link.target, link.headings, link.block, link.label) for link in note.links]
    assert got == expected


MARKDOWN_ISH = st.text(
    alphabet=st.sampled_from(list("ab [](){}#^|!%$`*_-=<>/\\:\n\t\"'ёЯ😀\x1b\x00\u0301")),
    max_size=300,
)


@settings(max_examples=300, deadline=None)
@given(MARKDOWN_ISH)
def test_parsing_and_rendering_any_text_never_raises(text: str) -> None:
    parse_note(text)
    console = Console(width=60, file=open("/dev/null", "w"), color_system=None)  # noqa: SIM115
    console.print(NoteMarkdown(text, RenderContext()))


def _indexed_tokens(tokens: list[Token]) -> list[tuple[object, ...]]:
    """What the index reads from a token stream: headings, links of every kind, tags,
    comments, code and math, with their lines and positions (plain text is left out: the
    lean parser does not split it where the display parser does)."""
    kept = {"wikilink", "link_open", "image", "tag", "comment", "code_inline", "math_inline"}
    out: list[tuple[object, ...]] = []
    for token in tokens:
        if token.type != "inline":
            out.append((token.type, token.map, token.content))
        for child in token.children or []:
            if child.type in kept:
                pos = child.meta.get("pos") if child.meta else None
                # The lean parser leaves hrefs undecoded and percent-encodes nothing; the
                # index URL-decodes link targets, so hrefs compare decoded.
                href = child.attrs.get("href")
                href = unquote(str(href)) if href is not None else None
                out.append((child.type, child.content, href, pos))
    return out


FRAGMENTS = [
    "[^1]",
    "[^1]: f [[a]]",
    "[a b](x%20y.md#Part)",
    "![i](p.png)",
    "[ref]",
    "[ref]: r.md",
    "*[[n]]*",
    "**b [[m|l]]**",
    "`[[c]]`",
    "#tag",
    "a#b",
    "#1984",
    "$x [[m]]$",
    "%%[[h]]%%",
    "<!-- [[h]] -->",
    "<https://ex.com/a>",
    "https://ex.com/a_b*c*",
    "\\[[x]]",
    "_i_",
    "~~s~~",
    "==h==",
    "&amp;",
    "[[a#B#C|d]]",
    "![[e#^id]]",
    "x ^blk",
    "a: b",
    "see http",
    "://w.io",
    "<b>[[t]]</b>",
    "[x]",
    "]",
    "[[",
    "]]",
    "(",
    ")",
    "*",
    "_",
    "\\",
    "!",
    "$",
    "%",
    "<",
    ">",
    "&",
    "~",
    "=",
    "^",
    # block starts (the lean parser tries only the block rules a line's first character
    # can start)
    "```",
    "~~~",
    "> q",
    "1. i",
    "2) i",
    "+ i",
    "* i",
    "***",
    "___",
    "---",
    "===",
    "$$",
    "    c",
    "\t",
    "<div>",
    "| a | b |",
    "|---|---|",
    "# h",
]
MARKDOWN_PIECES = st.lists(
    st.tuples(
        st.sampled_from(FRAGMENTS), st.sampled_from(["", " ", "\n", "\n\n", "\n## ", "\n- "])
    ),
    max_size=12,
).map(lambda pairs: "".join(a + b for a, b in pairs))


@settings(max_examples=300, deadline=None)
@given(st.one_of(MARKDOWN_ISH, MARKDOWN_PIECES, document().map(lambda doc: doc[0])))
def test_lean_parser_finds_what_the_display_parser_finds(text: str) -> None:
    # The indexer's parser skips emphasis and typography for speed; it must never see a
    # different link, tag, heading or code span than what is rendered.
    lean = _indexed_tokens(parser(lean=True).parse(text))
    full = _indexed_tokens(parser().parse(text))
    assert lean == full


BLOCK_LINES = [
    "# h [[a]]",
    "###### h",
    "#no heading",
    "```\n[[a]]\n```",
    "~~~\n#tag\n~~~",
    "> q [[a]]",
    "1. i [[a]]",
    "2) i",
    "10. i",
    "+ i",
    "* i",
    "- i",
    "***",
    "___",
    "---",
    "- - -",
    "===",
    "$$\n[[a]]\n$$",
    "%%\n[[a]]\n%%",
    "    code [[a]]",
    "\tcode [[a]]",
    "<div>\n[[a]]\n</div>",
    "<!-- [[a]] -->",
    "| a | b |\n|---|---|\n| [[c]] | d |",
    "a | b\n--|--\n[[c]] | d",
    "[ref]: r.md",
    "[ref]",
    "[^n]: note [[a]]\n    more [[c]]",
    "[^n]",
    "text [[a]] ^id",
]
BLOCK_CONTEXTS = ["{}", "para\n{}", "para\n\n{}", "- item\n  {}", "> {}", "1. x\n\n   {}"]


@pytest.mark.parametrize("context", BLOCK_CONTEXTS)
@pytest.mark.parametrize("line", BLOCK_LINES)
def test_lean_parser_starts_every_kind_of_block_the_display_parser_starts(
    line: str, context: str
) -> None:
    # The lean parser tries at each line only the block rules its first character can
    # start: every block start, at the top, after a paragraph (which some may interrupt)
    # and nested, must give the same blocks as the display parser.
    text = context.format(line) + "\nafter [[b]]\n"
    assert _indexed_tokens(parser(lean=True).parse(text)) == _indexed_tokens(parser().parse(text))


def _children(tokens: list[Token]) -> list[tuple[object, ...]]:
    # A footnote reference's subId counts the references to its footnote in the parse
    # environment, which parsing the same inline text again counts on from.
    return [
        (t.type, t.content, t.markup, {k: v for k, v in t.meta.items() if k != "subId"})
        for t in tokens
    ]


@settings(max_examples=300, deadline=None)
@given(st.one_of(MARKDOWN_ISH, MARKDOWN_PIECES, st.text(max_size=200)))
def test_lean_parser_skips_only_inline_text_the_inline_parser_would_leave_whole(
    text: str,
) -> None:
    # The lean parser does not run the inline parser on text without a character where a
    # rule can start; what it puts there instead must be exactly the parser's output,
    # plain text included (block ids are read from a paragraph's last text token).
    md = parser(lean=True)
    env: dict[str, object] = {}  # gets the reference definitions, as the inline parser needs
    for token in md.parse(text, env):
        if token.type == "inline":
            whole = Token("inline", "", 0, content=token.content, children=[])
            md.inline.parse(whole.content, md, env, whole.children)
            state = StateCore("", md, env)
            state.tokens = [whole]
            text_join(state)  # the core step after the inline parser, as in md.parse
            assert _children(token.children or []) == _children(whole.children or [])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(document().map(lambda d: d[0]), MARKDOWN_ISH), min_size=1, max_size=4), NAME
)
def test_graph_check_search_never_raise(texts: list[str], query: str) -> None:
    root = Path(tempfile.mkdtemp())
    try:
        for number, text in enumerate(texts):
            (root / f"note {number}.md").write_text(text, encoding="utf-8")
        index = Index.open(root, None)
        index.sync()
        check(index, orphans=True)
        search(index, query)
        for concept in index.concepts():
            index.links_from(concept)
            index.backlinks(concept)
            index.content(concept)
        index.counts()
    finally:
        shutil.rmtree(root)


@pytest.mark.parametrize(
    "text",
    ["==a `b==c`", "==a %%b== c%%", "==%%x==%% [[a]]", "==a [[b==c]] d==", "==x [[a]]== ==y=="],
)
def test_a_highlight_never_ends_inside_a_code_span_comment_or_link(text: str) -> None:
    # The indexing parser has no highlights: a highlight that closed on the "==" inside
    # a code span or comment changed what the display parser saw as code or comment.
    assert _indexed_tokens(parser(lean=True).parse(text)) == _indexed_tokens(parser().parse(text))
