"""The user's real note, ../shared/vaults/seed/AI-flow.md, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aikb.index import Index

from .conftest import Runner, tree_digest

CONTEXT = "AI-flow#Context window, Контекстное окно (flow)"
HOW_TO = (
    "AI-flow#*  Как сделать контекстное окно на 100K в большой языковой модели: "
    "обо всех фокусах в одном посте"
)


def show_json(aikb: Runner, vault: Path, term: str) -> dict[str, object]:
    result = aikb("show", term, "--json", vault=vault)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize(
    "term",
    [
        "context window",
        "Контекстное окно",
        "контекстное окно",
        "Context Window",
        "КОНТЕКСТНОЕ ОКНО",
        "[[AI-flow#Context window, Контекстное окно (flow)]]",
    ],
)
def test_context_window_names(aikb: Runner, seed_dir: Path, term: str) -> None:
    data = show_json(aikb, seed_dir, term)
    assert data["id"] == CONTEXT
    assert data["title"] == "Context window, Контекстное окно (flow)"


def test_fine_tuning_is_the_flow_section(aikb: Runner, seed_dir: Path) -> None:
    data = show_json(aikb, seed_dir, "fine-tuning")
    assert data["title"] == "Fine-tuning (flow)"


def test_structured_output_mentions_json_mode(aikb: Runner, seed_dir: Path) -> None:
    result = aikb("show", "structured output", vault=seed_dir)
    assert result.exit_code == 0
    assert "JSON mode" in result.stdout
    assert "Structured Output" in result.stdout.splitlines()[0]


def test_inference(aikb: Runner, seed_dir: Path) -> None:
    assert show_json(aikb, seed_dir, "inference")["title"] == "Inference (Model Inference)"


def test_russian_name_reaches_convolutional_network(aikb: Runner, seed_dir: Path) -> None:
    result = aikb("show", "сверточные нейросети", vault=seed_dir)
    assert result.exit_code == 0
    assert "Convolutional neural network" in result.stdout.splitlines()[0]
    assert "wikipedia.org/wiki/Convolutional_neural_network" in result.stdout


def test_heading_link_with_escape_double_space_and_colon_resolves(
    aikb: Runner, seed_dir: Path
) -> None:
    data = show_json(aikb, seed_dir, "context window size")
    links = data["links"]
    assert isinstance(links, list)
    internal = [link for link in links if link["kind"] != "external"]
    assert [(link["resolved"], link["reason"]) for link in internal] == [(HOW_TO, None)]
    target = show_json(aikb, seed_dir, HOW_TO)
    assert target["id"] == HOW_TO
    assert [b["source"] for b in target["backlinks"]] == ["AI-flow#Context window size"]  # type: ignore[union-attr]
    assert target["backlinks"][0]["line"] == 104  # type: ignore[index]


def test_only_ai_concept_link_is_unresolved(seed_dir: Path) -> None:
    index = Index.open(seed_dir, None)
    index.sync()
    broken = list(index.all_links(broken_only=True))
    assert [(b.link.text, b.reason, b.link.line) for b in broken] == [
        ("AI-concept#Fine-tuning", "missing note", 120)
    ]


def test_show_marks_the_unresolved_link(aikb: Runner, seed_dir: Path) -> None:
    result = aikb("show", "embeddings или fine-tuning?", vault=seed_dir)
    assert result.exit_code == 0
    assert "✗ AI-concept#Fine-tuning  (missing note)" in result.stdout


def test_json_shape(aikb: Runner, seed_dir: Path) -> None:
    data = show_json(aikb, seed_dir, "context window size")
    assert set(data) == {
        "id",
        "title",
        "kind",
        "note",
        "line",
        "names",
        "aliases",
        "tags",
        "content",
        "links",
        "backlinks",
    }
    assert data["kind"] == "H4" and data["note"] == "AI-flow.md" and data["line"] == 97
    assert isinstance(data["content"], str) and data["content"].startswith(
        "#### Context window size"
    )
    for link in data["links"]:  # type: ignore[union-attr]
        assert set(link) == {"target", "resolved", "kind", "line", "reason"}
    for backlink in show_json(aikb, seed_dir, HOW_TO)["backlinks"]:  # type: ignore[union-attr]
        assert set(backlink) == {"source", "line", "text"}


def test_search_with_typos_ranks_context_window_first(aikb: Runner, seed_dir: Path) -> None:
    result = aikb("search", "contxt windw", "--json", vault=seed_dir)
    assert result.exit_code == 0
    hits = json.loads(result.stdout)
    assert hits[0]["id"] == CONTEXT
    assert set(hits[0]) == {"id", "title", "score", "matched", "snippet"}
    assert hits == sorted(hits, key=lambda h: -h["score"])


def test_search_russian_any_case(aikb: Runner, seed_dir: Path) -> None:
    for query in ("контекстное окно", "КОНТЕКСТНОЕ ОКНО"):
        hits = json.loads(aikb("search", query, "--json", vault=seed_dir).stdout)
        assert hits[0]["id"] == CONTEXT
        assert hits[0]["score"] == 100


def test_search_says_a_word_form_was_found_in_a_heading(aikb: Runner, seed_dir: Path) -> None:
    # "окна" is found by its stem: in the heading "...с большим окном контекста", and only
    # in the text of "Context window size".
    hits = json.loads(aikb("search", "окна", "--json", vault=seed_dir).stdout)
    matched = {hit["title"]: hit["matched"] for hit in hits}
    assert matched["*  Оценка LLM с большим окном контекста"] == "heading"
    assert matched["Context window size"] == "text"


def test_html_font_tags_keep_their_words(aikb: Runner, seed_dir: Path) -> None:
    result = aikb("show", "context window size", vault=seed_dir)
    assert "65K" in result.stdout and "32K" in result.stdout
    assert "<font" not in result.stdout


def test_list_has_every_concept(aikb: Runner, seed_dir: Path) -> None:
    data = json.loads(aikb("list", "--json", vault=seed_dir).stdout)
    ids = [row["id"] for row in data]
    assert ids[0] == "AI-flow"
    assert CONTEXT in ids and HOW_TO in ids
    assert len(ids) == 19  # the note and its 18 headings
    row = next(r for r in data if r["id"] == HOW_TO)
    assert row["backlinks"] == 1


def test_fuzzy_choice_is_announced_on_stderr(aikb: Runner, seed_dir: Path) -> None:
    result = aikb("show", "contxt windw", vault=seed_dir)
    assert result.exit_code == 0
    assert "closest match" in result.stderr
    assert "Context window, Контекстное окно (flow)" in result.stdout.splitlines()[0]


def test_vault_is_never_written(aikb: Runner, seed_dir: Path) -> None:
    before = tree_digest(seed_dir)
    for args in (
        ["show", "context window"],
        ["show", "fine-tuning", "--json"],
        ["show", "inference", "--raw"],
        ["show", "nothing-like-this"],
        ["search", "окно"],
        ["list"],
        ["list", "--json"],
    ):
        aikb(*args, vault=seed_dir)
        aikb("--no-cache", *args, vault=seed_dir)
    assert tree_digest(seed_dir) == before
