"""graph, mentions, open, the pager and shell completion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aikb.editor import editor_command, obsidian_uri
from aikb.errors import UsageError

from .conftest import VAULTS, Runner

MENTIONS = VAULTS / "mentions"


# -- graph ------------------------------------------------------------------------------


def test_graph_json_local(aikb: Runner, seed_dir: Path) -> None:
    result = aikb("graph", "context window size", "--format", "json", vault=seed_dir)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"root", "nodes", "edges"}
    assert data["root"] == "AI-flow#Context window size"
    ids = {n["id"] for n in data["nodes"]}
    target = (
        "AI-flow#*  Как сделать контекстное окно на 100K в большой языковой модели: "
        "обо всех фокусах в одном посте"
    )
    assert target in ids and "AI-flow#AI-flow" in ids
    assert {"source": "AI-flow#Context window size", "target": target, "kind": "link"} in data[
        "edges"
    ]
    assert {
        "source": "AI-flow#AI-flow",
        "target": "AI-flow#Context window size",
        "kind": "section",
    } in data["edges"]
    for node in data["nodes"]:
        assert set(node) == {"id", "title", "kind"}


def test_graph_edges_join_the_link_own_ends(aikb: Runner, seed_dir: Path) -> None:
    # "Context window size" links to a subsection of "Context window": around the parent,
    # the edge goes to that subsection (shown as its child), not to the parent.
    result = aikb("graph", "context window", "--format", "json", vault=seed_dir)
    edges = json.loads(result.stdout)["edges"]
    sub = (
        "AI-flow#*  Как сделать контекстное окно на 100K в большой языковой модели: "
        "обо всех фокусах в одном посте"
    )
    link = {"source": "AI-flow#Context window size", "target": sub, "kind": "link"}
    assert link in edges
    assert not any(
        e["source"] == link["source"] and e["kind"] == "link" and e != link for e in edges
    )


def test_graph_unresolved_targets_are_nodes(aikb: Runner, seed_dir: Path) -> None:
    data = json.loads(aikb("graph", "--format", "json", vault=seed_dir).stdout)
    unresolved = [n for n in data["nodes"] if n["kind"] == "unresolved"]
    assert unresolved == [
        {
            "id": "unresolved:AI-concept#Fine-tuning",
            "title": "AI-concept#Fine-tuning",
            "kind": "unresolved",
        }
    ]
    assert data["root"] is None
    assert len([n for n in data["nodes"] if n["kind"] != "unresolved"]) == 19


def test_graph_depth_grows_the_neighbourhood(aikb: Runner) -> None:
    one = json.loads(aikb("graph", "Temperature", "-f", "json").stdout)
    two = json.loads(aikb("graph", "Temperature", "-f", "json", "--depth", "2").stdout)
    zero = json.loads(aikb("graph", "Temperature", "-f", "json", "--depth", "0").stdout)
    assert len(zero["nodes"]) == 1 and zero["edges"] == []
    assert len(one["nodes"]) < len(two["nodes"])
    assert {n["id"] for n in one["nodes"]} <= {n["id"] for n in two["nodes"]}


def test_graph_dot_and_mermaid_are_well_formed(aikb: Runner, tmp_path: Path) -> None:
    (tmp_path / 'Quote "me".md').write_text("[[Other]] [[Missing]]\n", encoding="utf-8")
    (tmp_path / "Other.md").write_text("# A [tricky] | title\n", encoding="utf-8")
    dot = aikb("graph", 'Quote "me"', "-f", "dot", vault=tmp_path).stdout
    assert dot.startswith("digraph aikb {") and dot.rstrip().endswith("}")
    assert '"Quote \\"me\\""' in dot
    assert 'color="red"' in dot
    mermaid = aikb("graph", 'Quote "me"', "-f", "mermaid", vault=tmp_path).stdout
    lines = mermaid.strip().splitlines()
    assert lines[0] == "```mermaid" and lines[1] == "flowchart LR" and lines[-1] == "```"
    assert 'n0[["Quote #quot;me#quot;"]]' in mermaid
    assert ":::unresolved" in mermaid and "classDef unresolved" in mermaid
    whole = aikb("graph", "-f", "mermaid", vault=tmp_path).stdout
    assert "#91;tricky#93; #124; title" in whole


def test_graph_tree(aikb: Runner, seed_dir: Path) -> None:
    result = aikb("graph", "context window size", vault=seed_dir)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].startswith("Context window size")
    assert "→ *  Как сделать" in result.stdout


# -- mentions ---------------------------------------------------------------------------


def test_mentions_word_forms_and_exclusions(aikb: Runner) -> None:
    result = aikb("mentions", "context window", "--json", vault=MENTIONS)
    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)
    assert [(m["line"], m["name"]) for m in found] == [
        (4, "Context window"),
        (4, "Context window"),
        (5, "Контекстное окно"),
        (5, "Контекстное окно"),
        (15, "Context window"),
    ]
    assert found[-1]["source"] == "Notes#Later"
    first = found[0]
    assert first["snippet"][first["start"] : first["end"]] == "context window"
    assert set(first) == {"note", "line", "source", "name", "snippet", "start", "end"}


def test_mentions_text_output_and_none(aikb: Runner, tmp_path: Path) -> None:
    result = aikb("mentions", "context window", vault=MENTIONS)
    assert result.stdout.splitlines()[0] == "Notes.md"
    assert "contextual" not in result.stdout and "fence" not in result.stdout
    (tmp_path / "Lonely.md").write_text("# Lonely\nA lonely note.\n", encoding="utf-8")
    (tmp_path / "Other.md").write_text("Lonely words, [[Lonely]] linked.\n", encoding="utf-8")
    one = aikb("mentions", "Lonely", vault=tmp_path)
    # The whole line is the snippet (the link beside the mention shows); the note's own
    # text is never a mention of the note.
    assert one.stdout == "Other.md\n      1  Lonely words, [[Lonely]] linked.\n"
    (tmp_path / "Other.md").write_text("Only [[Lonely]] linked.\n", encoding="utf-8")
    none = aikb("mentions", "Lonely", vault=tmp_path)
    assert none.exit_code == 1 and none.stdout == ""
    assert "no unlinked mentions" in none.stderr


def test_mentions_of_chinese_and_japanese_names_inside_runs(aikb: Runner, tmp_path: Path) -> None:
    (tmp_path / "限流算法.md").write_text("# 限流算法\n令牌桶。\n", encoding="utf-8")
    (tmp_path / "GPT模型.md").write_text("# GPT模型\n## 漏桶\n", encoding="utf-8")
    (tmp_path / "说明.md").write_text(
        "关于限流算法的说明。\nAlso gpt模型 and [[限流算法]].\n`漏桶` in code, 漏桶 in text.\n",
        encoding="utf-8",
    )
    for term, expected in (
        ("限流算法", [(1, "限流算法")]),  # the linked one on line 2 is not a mention
        ("GPT模型", [(2, "gpt模型")]),
        ("漏桶", [(3, "漏桶")]),  # two characters are a word; code is skipped
    ):
        result = aikb("mentions", term, "--json", vault=tmp_path)
        assert result.exit_code == 0, (term, result.stderr)
        found = json.loads(result.stdout)
        assert [(m["line"], m["snippet"][m["start"] : m["end"]]) for m in found] == expected


def test_mentions_between_sections_of_one_note(aikb: Runner, seed_dir: Path) -> None:
    # The seed is one note whose headings are the concepts: a section is mentioned by the
    # other sections, never by its own lines (82-96, subsections included).
    result = aikb("mentions", "context window", "--json", vault=seed_dir)
    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)
    assert [(m["line"], m["snippet"][m["start"] : m["end"]]) for m in found] == [
        (97, "Context window"),
        (101, "контекстного окна"),
        (101, "Context Windows"),
        (103, "контекстным окном"),
    ]
    assert {m["source"] for m in found} == {"AI-flow#Context window size"}


# -- open -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("editor", "expected"),
    [
        ("vim", ["vim", "+12", "/v/n.md"]),
        ("nvim -p", ["nvim", "-p", "+12", "/v/n.md"]),
        ("/usr/bin/nano", ["/usr/bin/nano", "+12", "/v/n.md"]),
        ("code --wait", ["code", "--wait", "-g", "/v/n.md:12"]),
        ("hx", ["hx", "+12", "/v/n.md"]),
        ("gedit", ["gedit", "/v/n.md"]),
    ],
)
def test_editor_command(editor: str, expected: list[str]) -> None:
    assert editor_command(Path("/v/n.md"), 12, {"EDITOR": editor}) == expected
    assert editor_command(Path("/v/n.md"), 12, {"VISUAL": editor, "EDITOR": "ed"}) == expected


def test_no_editor_is_a_clear_error(aikb: Runner) -> None:
    with pytest.raises(UsageError, match="no editor"):
        editor_command(Path("x.md"), 1, {})
    env = {"EDITOR": "", "VISUAL": ""}
    result = aikb("open", "context window", env=env)
    assert result.exit_code == 2
    assert (
        result.stderr.strip() == "aikb: no editor: set $VISUAL or $EDITOR (e.g. export EDITOR=vim)"
    )


def test_open_runs_the_editor_at_the_line(aikb: Runner, seed_dir: Path, tmp_path: Path) -> None:
    record = tmp_path / "argv.txt"
    script = tmp_path / "fake-editor"
    script.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {record}\n", encoding="utf-8")
    script.chmod(0o755)
    result = aikb(
        "open", "context window size", vault=seed_dir, env={"VISUAL": "", "EDITOR": str(script)}
    )
    assert result.exit_code == 0, result.stderr
    assert record.read_text(encoding="utf-8").splitlines() == [str(seed_dir / "AI-flow.md")]
    result = aikb(
        "open", "context window size", vault=seed_dir, env={"VISUAL": "", "EDITOR": f"{script} -x"}
    )
    missing = aikb("open", "x", env={"EDITOR": "/no/such/editor"})
    assert missing.exit_code in (1, 2)


def test_open_uri(aikb: Runner, tmp_path: Path) -> None:
    vault = tmp_path / "My Vault"
    (vault / "sub dir").mkdir(parents=True)
    (vault / "sub dir" / "Ünïcode & more.md").write_text("x\n", encoding="utf-8")
    result = aikb("open", "Ünïcode & more", "--uri", vault=vault)
    assert result.stdout.strip() == (
        "obsidian://open?vault=My%20Vault&file=sub%20dir%2F%C3%9Cn%C3%AFcode%20%26%20more"
    )
    assert obsidian_uri(Path("/x/v"), "a.md") == "obsidian://open?vault=v&file=a"


# -- pager ------------------------------------------------------------------------------


def test_pager_only_for_tall_output_on_a_terminal(
    aikb: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "paged.txt"
    pager = tmp_path / "pager"
    pager.write_text(f"#!/bin/sh\ncat > {record}\n", encoding="utf-8")
    pager.chmod(0o755)
    env = {"AIKB_PAGER": str(pager), "LINES": "10", "COLUMNS": "80"}
    monkeypatch.setattr("aikb.cli.is_terminal", lambda: True)
    result = aikb("list", env=env)
    assert result.exit_code == 0
    assert "Context window" in record.read_text(encoding="utf-8")
    record.unlink()
    aikb("list", "--no-pager", env=env)
    assert not record.exists()
    aikb("show", "Температура", env={**env, "LINES": "500"})
    assert not record.exists()  # fits the terminal: printed directly
    aikb("list", env={**env, "AIKB_PAGER": ""})
    assert not record.exists()
    monkeypatch.setattr("aikb.cli.is_terminal", lambda: False)
    aikb("list", env=env)
    assert not record.exists()


# -- completion -------------------------------------------------------------------------


def complete(args: str, shell: str = "bash", env: dict[str, str] | None = None) -> list[str]:
    """Ask the installed aikb for completions, as the shell script would."""
    words = f"aikb {args}"
    full_env = {
        **os.environ,
        **(env or {}),
        "_AIKB_COMPLETE": f"complete_{shell}",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split(" ")) - 1),
        "_TYPER_COMPLETE_ARGS": words,
    }
    result = subprocess.run(
        [sys.executable, "-m", "aikb"],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return [line for line in result.stdout.splitlines() if line]


def test_term_completion_with_cyrillic_and_spaces() -> None:
    assert "Context\\ window" in complete("show Cont")
    assert "Контекстное\\ окно" in complete("show Конт")
    assert "температура" in complete("show темп")
    assert "Температура" in complete("show Темп")
    zsh = complete("show Cont", shell="zsh")
    assert any("Context window" in line for line in zsh)


def test_tag_completion(seed_dir: Path) -> None:
    tags = complete("list --tag ll")
    assert "llm" in tags


def test_install_and_show_completion_exist(aikb: Runner) -> None:
    result = aikb("--help")
    assert "--install-completion" in result.stdout and "--show-completion" in result.stdout
