"""Parsing, layer 1: pure text in, parsed note out; cases from tests/fixtures/parse/*.txt.

A case file holds cases, each ``@@@ title``, ``<<<`` then the Markdown, ``>>>`` then the
expected links, tags, block ids and sections, one per line, in the format of
:func:`describe`. An empty expectation means: nothing of the kind.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aikb.model import ParsedNote
from aikb.parse import (
    front_matter_aliases,
    heading_names,
    parse_note,
    split_front_matter,
)

CASES = Path(__file__).parent / "fixtures" / "parse"


def load_cases() -> list[tuple[str, str, list[str]]]:
    cases = []
    for path in sorted(CASES.glob("*.txt")):
        for chunk in path.read_text(encoding="utf-8").split("@@@ ")[1:]:
            title, rest = chunk.split("\n", 1)
            source, expected = rest.split("<<<\n", 1)[1].split("\n>>>\n")
            lines = [line for line in expected.strip("\n").split("\n") if line.strip()]
            cases.append((f"{path.stem}: {title}", source, lines))
    return cases


def describe(note: ParsedNote) -> list[str]:
    out = []
    for link in note.links:
        label = f" |{link.label}" if link.label else ""
        out.append(f"{link.kind} {link.text}{label} @{link.line}")
    for section in note.sections:
        out.append(f"section {section.level} {section.title} @{section.line}-{section.end_line}")
    for block in note.blocks:
        out.append(f"block {block.id} {block.line}-{block.end_line}")
    for tag in note.tags:
        out.append(f"tag {tag.name} @{tag.line}")
    return out


def _order(lines: list[str]) -> list[str]:
    kinds = ["wikilink", "embed", "markdown", "external"]
    links = [line for line in lines if line.split(" ")[0] in kinds]
    rest = [line for line in lines if line.split(" ")[0] not in kinds]
    return links + sorted(
        rest, key=lambda line: ["section", "block", "tag"].index(line.split(" ")[0])
    )


@pytest.mark.parametrize(
    ("source", "expected"), [c[1:] for c in load_cases()], ids=[c[0] for c in load_cases()]
)
def test_parse_case(source: str, expected: list[str]) -> None:
    assert describe(parse_note(source)) == _order(expected)


def test_cases_were_found() -> None:
    assert len(load_cases()) >= 20


# -- front matter -------------------------------------------------------------------------


def test_front_matter_lines_are_file_lines() -> None:
    note = parse_note('---\naliases: [a]\nrelated: "[[A]]"\n---\n\n# H\n[[B]]\n')
    assert note.aliases == ("a",)
    assert [(link.target, link.line) for link in note.links] == [("A", 3), ("B", 7)]
    assert note.sections[0].line == 6
    assert note.body_line == 5


@pytest.mark.parametrize(
    ("yaml_text", "aliases"),
    [
        ("aliases:\n  - One\n  - 'Smith, John'\n", ("One", "Smith, John")),
        ("aliases: One, Two ,Three\n", ("One", "Two", "Three")),
        ("alias: Older form\n", ("Older form",)),
        ("aliases:\n", ()),
        ("aliases: ~\n", ()),
        ("aliases: [no, 10:30, 012345, 2024-01-01]\n", ("no", "10:30", "012345", "2024-01-01")),
        ("Aliases: [Mixed Case Key]\n", ("Mixed Case Key",)),
    ],
)
def test_aliases(yaml_text: str, aliases: tuple[str, ...]) -> None:
    data = split_front_matter(f"---\n{yaml_text}---\nbody\n").data
    assert data is not None
    assert front_matter_aliases(data) == aliases


def test_tags_list_string_and_hash() -> None:
    note = parse_note("---\ntags: [#a, b]\n---\n")
    assert note.front_matter_error is not None  # "#a" starts a YAML comment: invalid
    note = parse_note("---\ntags:\n  - '#a'\n  - b/c\n---\ntext #d\n")
    assert [t.name for t in note.tags] == ["a", "b/c", "d"]
    note = parse_note("---\ntags: one, two three\n---\n")
    assert [t.name for t in note.tags] == ["one", "two", "three"]


def test_invalid_yaml_keeps_body_and_names_line() -> None:
    note = parse_note("---\ntitle: [unclosed\n---\n# Body\nsee [[Link]] #tag\n")
    assert note.front_matter_error
    assert note.problems and note.problems[0].line >= 2
    assert [s.title for s in note.sections] == ["Body"]
    assert [link.target for link in note.links] == ["Link"]
    assert [t.name for t in note.tags] == ["tag"]


def test_non_mapping_front_matter_is_body_text() -> None:
    note = parse_note("---\njust a paragraph [[Kept]]\n---\nafter\n")
    assert note.problems and "not a YAML mapping" in note.problems[0].message
    assert "just a paragraph" in note.body
    assert [link.target for link in note.links] == ["Kept"]


def test_only_front_matter_has_empty_body() -> None:
    note = parse_note("---\naliases: [x]\n---\n")
    assert note.body.strip() == ""
    assert note.sections == ()
    assert note.aliases == ("x",)


def test_unclosed_front_matter_is_a_rule_and_text() -> None:
    note = parse_note("---\nno closing [[A]]\n")
    assert note.aliases == ()
    assert [link.line for link in note.links] == [2]


def test_bom_and_crlf_change_nothing() -> None:
    plain = "---\naliases: [x]\n---\n# Title\n[[A]] #t\n"
    variants = [
        "\ufeff" + plain,
        plain.replace("\n", "\r\n"),
        plain.replace("\n", "\r"),
        "\ufeff" + plain.replace("\n", "\r\n"),
    ]
    expected = describe(parse_note(plain))
    for text in variants:
        note = parse_note(text)
        assert describe(note) == expected
        assert note.aliases == ("x",)


def test_yaml_types_become_text() -> None:
    note = parse_note("---\ntitle: 2024-01-01\ntags: [2024, true]\naliases: 12\n---\n")
    assert note.title == "2024-01-01"
    assert [t.name for t in note.tags] == ["2024", "true"]
    assert note.aliases == ("12",)


# -- heading names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "names", "aliases"),
    [
        (
            "Leaky bucket，漏桶（流控）",
            ("Leaky bucket，漏桶（流控）", "Leaky bucket，漏桶", "Leaky bucket", "漏桶"),
            ("Leaky bucket", "漏桶"),
        ),
        (
            "滑动窗口、スライディングウィンドウ",
            ("滑动窗口、スライディングウィンドウ", "滑动窗口", "スライディングウィンドウ"),
            ("滑动窗口", "スライディングウィンドウ"),
        ),
        (
            "Context window, Контекстное окно (flow)",
            (
                "Context window, Контекстное окно (flow)",
                "Context window, Контекстное окно",
                "Context window",
                "Контекстное окно",
            ),
            ("Context window", "Контекстное окно"),
        ),
        ("Fine-tuning (flow)", ("Fine-tuning (flow)", "Fine-tuning"), ("Fine-tuning",)),
        (
            "embeddings  или fine-tuning? (misleading)",
            ("embeddings или fine-tuning? (misleading)", "embeddings или fine-tuning?"),
            ("embeddings или fine-tuning?",),
        ),
        ("Foo (a, b)", ("Foo (a, b)", "Foo"), ("Foo",)),
        ("*  Оценка LLM", ("* Оценка LLM", "Оценка LLM"), ("Оценка LLM",)),
        ("C++", ("C++",), ()),
    ],
)
def test_heading_names(title: str, names: tuple[str, ...], aliases: tuple[str, ...]) -> None:
    assert heading_names(title) == (names, aliases)


def test_repeated_heading_gets_path_anchor() -> None:
    note = parse_note("# A\n### Setup\n# B\n### Setup\n## Setup\n")
    assert [s.anchor for s in note.sections] == ["A", "A#Setup", "B", "B#Setup", "B#Setup (2)"]


def test_many_repeated_headings_number_on() -> None:
    note = parse_note("## x\n" * 2000)
    anchors = [s.anchor for s in note.sections]
    assert anchors[:3] == ["x", "x (2)", "x (3)"] and anchors[-1] == "x (2000)"
    assert len(set(anchors)) == 2000 and note.sections[0].end_line == 1


@pytest.mark.parametrize(
    ("source", "title", "anchor", "names", "aliases"),
    [
        # A setext heading over two lines is one line of title.
        ("First line\nsecond line\n---\n", "First line second line", None, None, ()),
        # Links read as their text; an id never holds what would break a pasted wikilink.
        (
            "## [[PKM|Knowledge management]]\n",
            "[[PKM|Knowledge management]]",
            "PKM Knowledge management",
            ("[[PKM|Knowledge management]]", "Knowledge management"),
            (),
        ),
        ("## Tips [[Net#TCP]]\n", "Tips [[Net#TCP]]", "Tips Net TCP", None, ()),
        ("## C# basics\n", "C# basics", "C basics", ("C# basics",), ()),
        # A URL's parentheses are not a qualifier: no alias cut from the middle of a link.
        (
            "## Setup [guide](https://x.org/a_(b))\n",
            "Setup [guide](https://x.org/a_(b))",
            None,
            ("Setup [guide](https://x.org/a_(b))", "Setup guide"),
            (),
        ),
        (
            "## ![[diagram.png]] Flow (draft)\n",
            "![[diagram.png]] Flow (draft)",
            "! diagram.png Flow (draft)",
            None,
            ("Flow",),
        ),
    ],
)
def test_heading_text_with_markup(
    source: str,
    title: str,
    anchor: str | None,
    names: tuple[str, ...] | None,
    aliases: tuple[str, ...],
) -> None:
    (section,) = parse_note(source).sections
    assert section.title == title
    assert section.anchor == (anchor or title)
    if names is not None:
        assert section.names == names
    assert section.aliases == aliases


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\x00\x01",
        "[[",
        "]]",
        "[[|]]",
        "[[#]]",
        "[[#^]]",
        "#",
        "%%",
        "$$",
        "---",
        "---\n---",
        "> [!note]\n> [[A]]",
        "<div>\n[[x]]\n</div>",
        "\\",
        "`",
        "- [ ] [[task]]",
        "[^1]\n\n[^1]: n",
    ],
)
def test_odd_inputs_never_raise(text: str) -> None:
    parse_note(text)


def test_a_scheme_ending_a_line_does_not_join_the_next_into_a_url() -> None:
    # "http" at a line's end and "://x" on the next line are text, not a link (as shown)
    assert parse_note("see http\n://w.io and more").links == ()
    assert [link.target for link in parse_note("see http://w.io").links] == ["http://w.io"]
