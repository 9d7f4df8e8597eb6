"""The CLI, layer 3: exit codes, stdout vs stderr, vault location, literal output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import Result

from aikb import __version__
from aikb.errors import ConfigError, VaultError
from aikb.vault import bundled_vault, locate_vault

from .conftest import VAULTS, Runner

MARKUP = VAULTS / "markup"


def test_version(aikb: Runner) -> None:
    result = aikb("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"aikb {__version__}"


def test_bundled_vault_is_the_default(aikb: Runner) -> None:
    result = aikb("show", "context window", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["note"] == "Context window.md"


def test_unknown_term_exits_1_with_suggestions_on_stderr(aikb: Runner) -> None:
    result = aikb("show", "contxt windoww size")
    assert result.exit_code in (0, 1)
    result = aikb("show", "zzzz qqqq")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("aikb: no concept named 'zzzz qqqq'")
    assert len(result.stderr.strip().splitlines()) == 1


def test_suggestions_are_offered(aikb: Runner) -> None:
    result = aikb("show", "temperatur sampling")
    assert result.exit_code == 1
    assert "did you mean" in result.stderr
    assert "Temperature" in result.stderr


def test_search_without_result_exits_1(aikb: Runner) -> None:
    result = aikb("search", "qqqqzzzzxxxx")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "nothing matches" in result.stderr


@pytest.mark.parametrize("query", ["", "   ", "\t"])
def test_blank_search_is_a_usage_error(aikb: Runner, query: str) -> None:
    result = aikb("search", query)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "empty query" in result.stderr


@pytest.mark.parametrize("path", ["/no/such/vault", str(Path(__file__))])
def test_bad_vault_is_one_line_exit_2(aikb: Runner, path: str) -> None:
    result = aikb("--vault", path, "list")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "vault" in result.stderr and "Traceback" not in result.stderr


def test_vault_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one, two, three = (tmp_path / name for name in ("one", "two", "three"))
    for folder in (one, two, three):
        folder.mkdir()
    config = tmp_path / "config.toml"
    config.write_text(f'vault = "{three}"\n', encoding="utf-8")
    env = {"AIKB_CONFIG": str(config), "AIKB_VAULT": str(two)}
    assert locate_vault(str(one), env) == one.resolve()
    assert locate_vault(None, env) == two.resolve()
    assert locate_vault(None, {"AIKB_CONFIG": str(config)}) == three.resolve()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # no user config file
    assert locate_vault(None, {}) == bundled_vault()
    with pytest.raises(ConfigError, match="config file not found"):
        locate_vault(None, {"AIKB_CONFIG": str(tmp_path / "none.toml")})
    with pytest.raises(VaultError, match="empty"):
        locate_vault("", env)


def test_bundled_vault_ships_with_the_package() -> None:
    vault = bundled_vault()
    assert (vault / "AI concepts.md").is_file()
    assert len(list(vault.rglob("*.md"))) >= 15


def test_broken_config_is_exit_2(aikb: Runner, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("vault = [unclosed\n", encoding="utf-8")
    result = aikb("list", env={"AIKB_CONFIG": str(config)})
    assert result.exit_code == 2
    assert "invalid config file" in result.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("kind", ["fifo", "folder", "huge"])
def test_a_config_that_is_not_a_small_file_is_one_line_and_exit_2(
    tmp_path: Path, kind: str
) -> None:
    config = tmp_path / "config.toml"
    if kind == "fifo":
        os.mkfifo(config)
    elif kind == "folder":
        config.mkdir()
    else:
        config.write_text("# padding\n" * 120_000 + f'vault = "{tmp_path}"\n')
    result = subprocess.run(  # a hang fails on the timeout
        [sys.executable, "-m", "aikb", "list"],
        env={**os.environ, "AIKB_CONFIG": str(config)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(("aikb: cannot read config file ", "aikb: config file "))
    assert len(result.stderr.splitlines()) == 1


def test_environment_vault(aikb: Runner, seed_dir: Path) -> None:
    result = aikb("list", "--json", env={"AIKB_VAULT": str(seed_dir)})
    assert json.loads(result.stdout)[0]["id"] == "AI-flow"


def test_markup_in_notes_prints_literally(aikb: Runner) -> None:
    result = aikb("show", "[red]Title[/red]", vault=MARKUP)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "[red]Title[/red]" in out
    assert "0<x and y>5" in out and "<Ctrl>" in out and " w." in out
    assert "weird [label]" in out
    note = aikb("show", "[bold]x", vault=MARKUP).stdout
    assert "[bold]not bold[/bold]" in note and "a [/] b" in note
    assert note.splitlines()[0] == "[bold]x"


def test_control_characters_never_reach_the_terminal(aikb: Runner) -> None:
    for args in (["show", "[red]Title[/red]"], ["search", "escape"], ["list"]):
        result = aikb(*args, vault=MARKUP)
        assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "␛[31mred" in aikb("show", "[red]Title[/red]", vault=MARKUP).stdout


def test_raw_prints_source(aikb: Runner) -> None:
    result = aikb("show", "[red]Title[/red]", "--raw", vault=MARKUP)
    assert result.stdout.startswith("# [red]Title[/red]\n")


def test_broken_yaml_warns_once_naming_the_file_and_still_loads(aikb: Runner) -> None:
    result = aikb("show", "Broken yaml", vault=MARKUP)
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if "broken.md" in line]
    assert len(warnings) == 1 and "invalid front matter" in warnings[0]
    again = aikb("show", "Broken yaml", vault=MARKUP)
    assert "broken.md" not in again.stderr  # reported when parsed, not on every run


def test_dot_folders_are_skipped(aikb: Runner) -> None:
    ids = [row["id"] for row in json.loads(aikb("list", "--notes", "--json", vault=MARKUP).stdout)]
    assert ids == ["[bold]x", "broken"]


def test_list_filters(aikb: Runner) -> None:
    notes = json.loads(aikb("list", "--notes", "--json").stdout)
    assert notes and all(row["kind"] == "note" for row in notes)
    tagged = json.loads(aikb("list", "--tag", "markup", "--json", vault=MARKUP).stdout)
    # Front-matter tags belong to the note, not to each of its sections.
    assert [row["id"] for row in tagged] == ["[bold]x"]
    result = aikb("list", "--tag", "no-such-tag", vault=MARKUP)
    assert result.exit_code == 1


def test_check_with_hundreds_of_problems_in_one_note(aikb: Runner, tmp_path: Path) -> None:
    # Past 300 rows a note's problems print as plain lines, same columns as the grid.
    (tmp_path / "many.md").write_text(
        "\n".join(f"[[gone {n}]]" for n in range(400)) + "\n", encoding="utf-8"
    )
    result = aikb("check", vault=tmp_path)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "many.md" and len(lines) == 401
    assert lines[1].split() == ["1", "missing", "note", "[[gone", "0]]"]
    assert lines[-1].startswith("    400  missing note  [[gone 399]]")
    assert "400 problems in 1 note" in result.stderr


@pytest.mark.parametrize(
    ("columns", "headers", "hidden"),
    [
        ("120", ["concept", "kind", "aliases", "note", "links", "backlinks"], None),
        ("80", ["concept", "kind", "aliases", "links", "backlinks"], "note not shown"),
        ("40", ["concept", "kind", "→", "←"], "note and aliases not shown"),
    ],
)
def test_list_fits_the_width(
    aikb: Runner, seed_dir: Path, columns: str, headers: list[str], hidden: str | None
) -> None:
    result = aikb("list", vault=seed_dir, env={"COLUMNS": columns})
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == headers
    assert max(len(line) for line in lines) <= int(columns)
    assert "Context window" in result.stdout
    assert (hidden in result.stdout) if hidden else ("not shown" not in result.stdout)


def test_piped_output_has_no_colour(aikb: Runner) -> None:
    result = aikb("show", "context window", env={"NO_COLOR": ""})
    assert "\x1b[" not in result.stdout


@pytest.mark.parametrize("command", ["show", "search", "list"])
def test_every_command_has_help_with_an_example(aikb: Runner, command: str) -> None:
    result = aikb(command, "--help")
    assert result.exit_code == 0
    assert "Example: aikb" in result.stdout


def test_every_command_is_in_readme() -> None:
    from aikb.cli import app

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    names = [c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands]
    assert names
    for name in names:
        assert f"aikb {name}" in readme, name


def test_check_on_the_seed_reports_exactly_one_problem(aikb: Runner, seed_dir: Path) -> None:
    result = aikb("check", "--json", vault=seed_dir)
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["problems"] == [
        {
            "note": "AI-flow.md",
            "line": 120,
            "kind": "missing note",
            "target": "AI-concept#Fine-tuning",
            "message": "[[AI-concept#Fine-tuning]]",
        }
    ]
    assert data["counts"] == {"missing note": 1}
    text = aikb("check", vault=seed_dir)
    assert "AI-flow.md" in text.stdout and "120" in text.stdout
    assert "1 problem in 1 note" in text.stderr


def test_check_groups_by_kind(aikb: Runner) -> None:
    result = aikb("check", "--json", vault=VAULTS / "resolve")
    counts = json.loads(result.stdout)["counts"]
    assert counts == {
        "missing attachment": 1,
        "missing note": 4,
        "ambiguous link": 1,
        "missing block": 1,
        "missing heading": 1,
    }


def test_check_reports_front_matter_and_clean_vault_exits_0(aikb: Runner, tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("---\naliases: [Same]\n---\n[[b]]\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("---\naliases: [same]\n---\n[[a]]\n", encoding="utf-8")
    (tmp_path / "c.md").write_text("---\ntags: [#x, #y]\n---\nalone\n", encoding="utf-8")
    data = json.loads(aikb("check", "--orphans", "--json", vault=tmp_path).stdout)
    kinds = sorted((p["note"], p["kind"]) for p in data["problems"])
    assert kinds == [
        ("a.md", "duplicate alias"),
        ("b.md", "duplicate alias"),
        ("c.md", "invalid front matter"),
        ("c.md", "orphan"),
    ]
    (tmp_path / "c.md").unlink()
    (tmp_path / "b.md").write_text("[[a]]\n", encoding="utf-8")
    clean = aikb("check", vault=tmp_path)
    assert clean.exit_code == 0 and clean.stdout == ""
    assert "no problems in 2 notes" in clean.stderr


def test_index_command_builds_in_the_cache_dir(
    aikb: Runner, seed_dir: Path, isolated_env: Path
) -> None:
    result = aikb("index", vault=seed_dir)
    assert result.exit_code == 0
    assert "indexed 1 note" in result.stderr
    assert list((isolated_env / "cache").glob("seed-*.sqlite3"))
    again = aikb("index", vault=seed_dir)
    assert again.exit_code == 0 and "index up to date: 1 note (" in again.stderr
    rebuilt = aikb("index", "--rebuild", vault=seed_dir)
    assert rebuilt.exit_code == 0


@pytest.mark.parametrize(
    ("typo", "note"),
    [("Temprature", "Temperature"), ("tokns", "Tokens"), ("contxt windw", "Context window")],
)
def test_a_typo_shows_the_note_its_title_heading_and_hub_share_a_name_with(
    aikb: Runner, typo: str, note: str
) -> None:
    """In the bundled vault a note, its own title heading and a hub section all carry the
    name a typo comes closest to: they are one candidate, settled as the exact name
    would be (the note first), not a tie that shows nothing."""
    result = aikb("show", typo, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["id"] == note
    assert f"showing {note!r}, the closest match to {typo!r}" in result.stderr
    assert f"{note!r} also names 'AI concepts#{note}, " in result.stderr


@pytest.mark.parametrize("cache", [True, False])
def test_a_file_name_wins_over_another_notes_alias(
    aikb: Runner, tmp_path: Path, cache: bool
) -> None:
    """Obsidian never lets an alias win over a file name: ``show Core`` is ``Core.md``
    even where a note sorted before it has the alias ``Core`` (from the Obsidian help
    vault, where ``Vault switcher`` was also an alias of ``Manage vaults``)."""
    (tmp_path / "插件").mkdir()
    (tmp_path / "插件" / "All.md").write_text("---\naliases: [Core]\n---\nall\n", "utf-8")
    (tmp_path / "插件" / "Core.md").write_text("core\n", "utf-8")
    (tmp_path / "A.md").write_text("---\naliases: [core]\n---\na\n", "utf-8")
    args = ("show", "core", "--json")
    result = aikb(*args, vault=tmp_path) if cache else aikb("--no-cache", *args, vault=tmp_path)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["id"] == "插件/Core"
    assert "'core' also names 'A', '插件/All'" in result.stderr


@pytest.mark.parametrize("tag", ["", " ", "#"])
def test_an_empty_tag_is_a_usage_error(aikb: Runner, tag: str) -> None:
    result = aikb("list", "--tag", tag)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "aikb: empty tag; give a tag such as llm or #llm\n"


def test_list_keeps_the_note_column_when_it_fits(aikb: Runner, tmp_path: Path) -> None:
    """Columns are dropped by what the rows need, not at fixed widths: short titles and
    paths keep the note column at 80 columns; the bundled vault's long hub headings do not."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "AI-flow.md").write_text("---\naliases: [flow]\n---\n[[Tokenizer]]\n")
    (tmp_path / "sub" / "Tokenizer.md").write_text("Splits text.\n")
    short = aikb("list", "--notes", vault=tmp_path, env={"COLUMNS": "80"})
    assert short.stdout.splitlines()[0].split() == [
        "concept", "kind", "aliases", "note", "links", "backlinks"
    ]  # fmt: skip
    assert "sub/Tokenizer.md" in short.stdout and "not shown" not in short.stdout
    bundled = aikb("list", env={"COLUMNS": "80"})
    assert bundled.stdout.splitlines()[0].split() == [
        "concept", "kind", "aliases", "links", "backlinks"
    ]  # fmt: skip
    assert "note not shown at this width; --json has all" in bundled.stdout


def test_text_holding_the_words_ranks_above_names_that_only_look_alike(aikb: Runner) -> None:
    """``окна`` is in the text of ``Context window#Definition`` (as ``окно``); ``Tokens``
    (alias ``Токены``) only looks a little like it and used to rank above, out of the
    default top 10."""
    hits = json.loads(aikb("search", "окна", "--limit", "40", "--json").stdout)
    ids = [hit["id"] for hit in hits]
    assert ids.index("Context window#Definition") < ids.index("Tokens")
    assert "Context window#Definition" in ids[:10]
    look_alike = [hit for hit in hits if hit["score"] < 30]
    assert look_alike and all(hit["matched"] != "text" for hit in look_alike)


def test_a_short_name_inside_the_query_is_no_strong_match(aikb: Runner, tmp_path: Path) -> None:
    """``tab`` is a fragment of ``table`` in ``create a table``, not a typo of the query:
    the glossary's ``tab`` used to outrank the section on creating tables (Obsidian help
    vault). A longer name holding a typo of the query still matches."""
    (tmp_path / "Glossary.md").write_text("## tab\n\nA tab holds a view.\n", "utf-8")
    (tmp_path / "Formatting.md").write_text(
        "## Tables\n\nYou can create a table with pipes.\n", "utf-8"
    )
    (tmp_path / "Context window.md").write_text("tokens\n", "utf-8")
    hits = json.loads(aikb("search", "create a table", "--json", vault=tmp_path).stdout)
    ids = [hit["id"] for hit in hits]
    assert ids[0] == "Formatting#Tables"
    assert "Glossary#tab" not in ids or ids.index("Glossary#tab") > 0
    typo = json.loads(aikb("search", "windw", "--json", vault=tmp_path).stdout)
    assert typo[0]["id"] == "Context window"


def test_list_orders_notes_by_name_then_folder(aikb: Runner) -> None:
    """By note id, not file path: ``RAG`` comes before ``RAG vs fine-tuning`` (a path
    sorts ``RAG vs fine-tuning.md`` first, since a space sorts before ``.``)."""
    ids = [c["id"] for c in json.loads(aikb("list", "--notes", "--json").stdout)]
    assert ids.index("RAG") == ids.index("RAG vs fine-tuning") - 1
    assert ids == sorted(ids)


def test_main_runs_without_the_cyclic_collector_and_freezes_before_exit(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import gc

    from aikb.cli import main

    monkeypatch.setattr("sys.argv", ["aikb", "--version"])
    assert gc.isenabled()
    try:
        with pytest.raises(SystemExit) as ended:
            main()
        assert ended.value.code in (0, None)
        assert capsys.readouterr().out == f"aikb {__version__}\n"
        assert not gc.isenabled()
        assert gc.get_freeze_count() > 0  # the collection at exit has nothing to walk
    finally:
        gc.unfreeze()
        gc.enable()


def test_browse_collects_cycles_again(aikb: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    # A terminal UI session may last hours: the collector main() turned off is back on.
    import gc

    from aikb import browse

    seen: list[bool] = []
    monkeypatch.setattr(browse, "run_browse", lambda index, term: seen.append(gc.isenabled()))
    gc.disable()
    try:
        assert aikb("browse").exit_code == 0
    finally:
        gc.enable()
    assert seen == [True]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_warning_to_an_unwritable_stderr_does_not_cost_the_data(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    (tmp_path / "a.md").write_text("# Alpha\ntext\n", encoding="utf-8")
    env = {**os.environ, "AIKB_CACHE_DIR": str(tmp_path / "cache")}
    with open("/dev/full", "w") as full:
        shown = subprocess.run(
            [sys.executable, "-m", "aikb", "--vault", str(tmp_path), "show", "alph"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=full,
            text=True,
        )
    assert shown.returncode == 0  # the closest match is shown; its warning is lost
    assert "Alpha" in shown.stdout


def test_ctrl_c_while_the_command_loads_ends_quietly() -> None:
    """A Ctrl-C that lands while typer and rich are still being imported."""
    code = (
        "import sys\n"
        "class Interrupted:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'aikb.cli':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupted())\n"
        "import aikb.__main__\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stderr) == (130, "\n")


def test_a_progress_bar_is_erased_however_the_command_ends() -> None:
    """Ctrl-C mid-build left the bar drawn and the terminal's cursor hidden."""
    import typer
    from typer.core import TyperCommand

    from aikb.cli import _ProgressBar

    ctx = typer.Context(TyperCommand("index"))
    bar = _ProgressBar(ctx)
    bar(100, 1000)
    drawn = bar._bar
    assert drawn is not None and drawn.live.is_started
    ctx.close()  # what click does as the command ends, by an exception too
    assert not drawn.live.is_started


@pytest.mark.parametrize("cache", [True, False])
def test_a_link_to_a_missing_heading_or_block_still_reaches_its_note(
    aikb: Runner, tmp_path: Path, cache: bool
) -> None:
    """As in Obsidian (found on its help vault): ``[[Target#Gone]]`` is broken, yet it
    opens ``Target`` and is one of Target's backlinks; an embed of it shows nothing."""
    (tmp_path / "Target.md").write_text("# Target\n\n## Real heading\n\ntext\n", "utf-8")
    (tmp_path / "Source.md").write_text(
        "See [[Target#Old heading]] and [[Target#^gone]].\n\n![[Target#Old heading]]\n", "utf-8"
    )

    def run(*args: str) -> Result:
        return aikb(*args, vault=tmp_path) if cache else aikb("--no-cache", *args, vault=tmp_path)

    target = json.loads(run("show", "Target", "--json").stdout)
    assert [(b["source"], b["line"]) for b in target["backlinks"]] == [("Source", 1), ("Source", 3)]
    source = json.loads(run("show", "Source", "--json").stdout)
    assert [(x["resolved"], x["reason"]) for x in source["links"]] == [
        ("Target", "missing heading"),
        ("Target", "missing block"),
        ("Target", "missing heading"),
    ]
    shown = run("show", "Source", "--no-pager")
    assert "✗ Target#Old heading  (missing heading)" in shown.stdout
    assert "Real heading" not in shown.stdout  # the embed transcludes nothing
    listed = {row["id"]: row for row in json.loads(run("list", "--json").stdout)}
    assert listed["Target"]["backlinks"] == 2 and listed["Target#Real heading"]["backlinks"] == 0
    assert run("check", "--orphans", "--json").stdout.count('"orphan"') == 0
    looked_up = run("show", "[[Target#Old heading]]", "--json")
    assert looked_up.exit_code == 0 and json.loads(looked_up.stdout)["id"] == "Target"
    assert "'[[Target#Old heading]]': missing heading in 'Target'; showing the note" in (
        looked_up.stderr
    )
    assert run("check").exit_code == 1


@pytest.mark.parametrize("cache", [True, False])
def test_a_link_to_a_note_is_no_backlink_of_a_heading_on_its_first_line(
    aikb: Runner, tmp_path: Path, cache: bool
) -> None:
    """A note without front matter whose first line is a heading: the note and that
    section both start on line 1, yet ``[[A]]`` is a backlink of the note only (the help
    vault's ``Advanced formatting syntax#Tables`` listed links to its note)."""
    (tmp_path / "A.md").write_text("## Intro\n\ntext\n\n## Next\n", "utf-8")
    (tmp_path / "C.md").write_text("See [[A]] and [[A#Intro]].\n\nAlso [[A#Next]].\n", "utf-8")

    def run(*args: str) -> Result:
        return aikb(*args, vault=tmp_path) if cache else aikb("--no-cache", *args, vault=tmp_path)

    intro = json.loads(run("show", "A#Intro", "--json").stdout)
    assert [b["line"] for b in intro["backlinks"]] == [1]  # [[A#Intro]]; [[A]] is the note's
    note = json.loads(run("show", "A", "--json").stdout)
    assert [b["line"] for b in note["backlinks"]] == [1, 3]
    listed = {row["id"]: row["backlinks"] for row in json.loads(run("list", "--json").stdout)}
    assert (listed["A"], listed["A#Intro"], listed["A#Next"]) == (2, 1, 1)
