"""The graph, layer 2: link resolution, backlinks and sections on small fixture vaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from aikb.index import Index
from aikb.model import ResolvedLink

from .conftest import VAULTS

RESOLVE = VAULTS / "resolve"


def open_memory(root: Path) -> Index:
    index = Index.open(root, None)
    index.sync()
    return index


@pytest.fixture(scope="module")
def resolve_index() -> Index:
    return open_memory(RESOLVE)


def links_by_text(index: Index, note: str) -> dict[str, ResolvedLink]:
    concept = index.concept(note)
    assert concept is not None
    return {item.link.text: item for item in index.links_from(concept)}


# (link as written in Links.md, without brackets) -> (resolved concept or None, reason);
# a missing heading or block still reaches its note
EXPECTED = [
    ("Net#TCP IP basics", "Net#TCP/IP Basics", None),
    ("Net#Ratio Speed & Cost", "Net#Ratio: Speed & Cost", None),
    ("Net#v2 0 notes", "Net#v2.0 notes", None),
    ("Net#TCP/IP Basics", "Net#TCP/IP Basics", None),
    ("N#Setup", "N#A#Setup", None),
    ("N#B#Setup", "N#B#Setup", None),
    ("Meeting Notes.md", "Meeting Notes", None),
    ("v1.2 plan", "v1.2 plan", None),
    ("J.R. Smith", "J.R. Smith", None),
    ("missing.png", None, "missing attachment"),
    ("garden plan", "Garden Plan", None),
    ("café#crème brûlée", "Café#Crème brûlée", None),
    ("Контекст#окно", "Контекст#Окно", None),
    ("日本語#見出し", "日本語#見出し", None),
    ("work/index", "work/index", None),
    ("home/index", "home/index", None),
    ("todo", None, "missing note"),
    ("template", None, "missing note"),
    ("projects/Big Idea.md", "projects/Big Idea", None),
    ("/projects/Big Idea.md", "projects/Big Idea", None),
    ("Big Idea.md#Next Steps", "projects/Big Idea#Next Steps", None),
    ("Quotes#^tree-quote", "Quotes", None),
    ("Quotes#^item-1", "Quotes", None),
    ("Quotes#^nope", "Quotes", "missing block"),  # the note is reached, as in Obsidian
    ("Net#No such heading", "Net", "missing heading"),
    ("../../etc/passwd", None, "missing note"),
    ("../../../x.md", None, "missing note"),
    ("Links#Links", "Links#Links", None),
    ("#Links", "Links#Links", None),
]


@pytest.mark.parametrize(("text", "resolved", "reason"), EXPECTED, ids=[e[0] for e in EXPECTED])
def test_resolution(
    resolve_index: Index, text: str, resolved: str | None, reason: str | None
) -> None:
    import unicodedata

    links = links_by_text(resolve_index, "Links")
    item = links[text]
    expected = unicodedata.normalize("NFC", resolved) if resolved else None
    assert (item.resolved, item.reason) == (expected, reason)


def test_double_hash_is_single(resolve_index: Index) -> None:
    concept = resolve_index.concept("Links")
    assert concept is not None
    setups = [i for i in resolve_index.links_from(concept) if i.link.target == "N"]
    assert [i.resolved for i in setups] == ["N#A#Setup", "N#B#Setup", "N#A#Setup"]


def test_existing_attachment_is_reached(resolve_index: Index) -> None:
    item = links_by_text(resolve_index, "Links")["diagram.png"]
    assert item.attachment == "attachments/diagram.png"
    assert item.reason is None


def test_ambiguous_name_uses_tie_break_and_lists_others(resolve_index: Index) -> None:
    item = links_by_text(resolve_index, "Links")["index"]
    assert item.resolved == "home/index"  # same depth and length: alphabetical
    assert item.candidates == ("work/index",)


def test_relative_markdown_link_from_subfolder(resolve_index: Index) -> None:
    item = links_by_text(resolve_index, "notes/Relative")["../projects/Big Idea.md"]
    assert item.resolved == "projects/Big Idea"


def test_external_links_are_recorded_not_resolved(resolve_index: Index) -> None:
    item = links_by_text(resolve_index, "Links")["https://example.com/page"]
    assert item.link.kind == "external"
    assert item.resolved is None and item.reason is None


def test_repeated_headings_have_unique_ids(resolve_index: Index) -> None:
    ids = [c.id for c in resolve_index.concepts() if c.note == "N"]
    assert ids == ["N", "N#A", "N#A#Setup", "N#B", "N#B#Setup"]


def test_backlinks_carry_source_and_line_text(resolve_index: Index) -> None:
    concept = resolve_index.concept("Net#TCP/IP Basics")
    assert concept is not None
    backlinks = resolve_index.backlinks(concept)
    assert [(b.source, b.line, b.text) for b in backlinks] == [
        ("Links#Links", 3, "[[Net#TCP IP basics]]"),
        ("Links#Links", 6, "[[Net#TCP/IP Basics]]"),
    ]
    note = resolve_index.concept("Net")
    assert note is not None
    # links to its headings count too, and one to a heading it lacks (line 31)
    assert [b.line for b in resolve_index.backlinks(note)] == [3, 4, 5, 6, 31]


def test_same_note_links_are_not_backlinks_of_their_own_section(resolve_index: Index) -> None:
    concept = resolve_index.concept("Links#Links")
    assert concept is not None
    assert resolve_index.backlinks(concept) == []


def test_parent_and_children(resolve_index: Index) -> None:
    b = resolve_index.concept("N#B")
    assert b is not None
    assert [c.id for c in resolve_index.children(b)] == ["N#B#Setup"]
    setup = resolve_index.concept("N#B#Setup")
    assert setup is not None and setup.parent == "N#B"
    note = resolve_index.concept("N")
    assert note is not None
    assert [c.id for c in resolve_index.children(note)] == ["N#A", "N#B"]
    assert resolve_index.concept("N#A") is not None
    assert resolve_index.concept("N#A").parent == "N"  # type: ignore[union-attr]
