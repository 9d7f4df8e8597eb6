"""Rendering: embeds (transclusion, cycles), hidden syntax, and text that must survive."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from aikb.render import NoteMarkdown, RenderContext

from .conftest import VAULTS, Runner

EMBEDS = VAULTS / "embeds"


def render(markdown: str, width: int = 100) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"), color_system=None)  # noqa: SIM115
    console.print(NoteMarkdown(markdown, RenderContext()))
    return console.export_text()


def show(aikb: Runner, term: str, vault: Path = EMBEDS) -> str:
    result = aikb("show", term, vault=vault)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_self_embed_renders_at_once_with_a_placeholder(aikb: Runner) -> None:
    out = show(aikb, "Self")
    assert out.count("Self text.") == 1
    assert "embed cycle: Self" in out


def test_mutual_embeds_stop_at_the_cycle(aikb: Runner) -> None:
    out = show(aikb, "A")
    assert "B text." in out
    assert "embed cycle: A" in out


def test_embedding_a_block_of_the_embedder_is_not_a_cycle(aikb: Runner) -> None:
    out = show(aikb, "C")
    assert "D body." in out
    assert out.count("C block text.") == 2  # its own, and through D's block embed
    assert "cycle" not in out


def test_block_embed_shows_only_that_item_and_heading_embed_only_that_section(aikb: Runner) -> None:
    out = show(aikb, "Embedder")
    assert "first item" in out and "second item" not in out
    assert "two text" in out and "one text" not in out and "three text" not in out
    assert "picture.png  (missing attachment)" in out


def test_comments_block_ids_and_math_markup_are_hidden(aikb: Runner) -> None:
    out = show(aikb, "Comments")
    assert "Visible" in out and "text." in out and "End line" in out
    assert "hidden" not in out and "^end-id" not in out and "%%" not in out
    assert "x^2" in out and "$" not in out
    assert "marked" in out and "==" not in out
    assert "Links (0)" in out  # [[X]] inside the comment is no link


def test_no_user_text_is_swallowed() -> None:
    out = render('0<x and y>5, press <Ctrl>, <font color="red">w</font> and <span>s</span>.')
    assert "0<x and y>5" in out and "<Ctrl>" in out and " w " in out and " s." in out
    assert "<font" not in out and "<span>" not in out


def test_html_block_keeps_its_words() -> None:
    out = render('<div align="center">\nCentered <b>words</b>\n</div>\n\nafter')
    assert "Centered" in out and "words" in out and "<div" not in out


def test_html_block_tags_leave_no_blank_lines_and_cells_stay_apart() -> None:
    lines = render("<table><tr><td>a</td><td>b</td></tr></table>\n\n" + "<div>" * 3000).split("\n")
    assert [line.rstrip() for line in lines if line.strip()] == ["a b"]
    nested = render("<div>\n<p>\n<b>Title</b>\n</p>\n</div>\n\nnext").strip().split("\n")
    assert [line.rstrip() for line in nested] == ["Title", "", "next"]


def test_wikilinks_show_label_or_target() -> None:
    out = render("See [[Note|the label]], [[Other#Part]] and [[#Local]].")
    assert "See the label, Other › Part and Local." in out


def test_image_sizes_are_not_labels_and_paths_read_decoded() -> None:
    out = render("![[pic.png|200]] ![[pic.png|640x480]] ![[Note|Named]] ![](att/my%20pic.png)")
    assert "⤷ pic.png ⤷ pic.png ⤷ Named" in out and "200" not in out and "640" not in out
    assert "att/my pic.png" in out


def test_control_characters_become_visible() -> None:
    out = render("bell \x07 esc \x1b[31m c1 \x9b end")
    assert "\x07" not in out and "\x1b" not in out and "\x9b" not in out
    assert "␇" in out and "␛[31m" in out and "\ufffd" in out


def test_rich_markup_is_literal() -> None:
    out = render("[bold]x[/bold] and a [/] b")
    assert "[bold]x[/bold] and a [/] b" in out


def test_callout_is_labelled() -> None:
    out = render("> [!note] Remember\n> this")
    assert "NOTE Remember" in out and "[!note]" not in out


def test_narrow_terminal(aikb: Runner) -> None:
    result = aikb("show", "context window", env={"COLUMNS": "40"})
    assert result.exit_code == 0
    assert max(len(line) for line in result.stdout.splitlines()) <= 40


def test_embed_is_a_block_where_it_is_written(aikb: Runner, tmp_path: Path) -> None:
    (tmp_path / "Heads.md").write_text("# One\none text\n## Two\ntwo text\n", encoding="utf-8")
    (tmp_path / "Page.md").write_text("Before it\n![[Heads#Two]]\nafter it\n", encoding="utf-8")
    out = aikb("show", "Page", vault=tmp_path).stdout
    before, embedded, after = out.index("Before it"), out.index("two text"), out.index("after it")
    assert before < embedded < after
    assert "▌ two text" in out.replace("▌ ▌", "▌")


def test_huge_note_is_clipped_not_slow(aikb: Runner, tmp_path: Path) -> None:
    (tmp_path / "Big.md").write_text(
        "# Big\n" + "A line of text [[Big]].\n" * 20_000, encoding="utf-8"
    )
    result = aikb("show", "Big", vault=tmp_path)
    assert result.exit_code == 0
    assert "more lines not shown; --raw prints them all" in result.stdout
    assert (
        "… and 19800 more (--json lists all)" in result.stdout or "Links (20000)" in result.stdout
    )


def test_a_long_link_keeps_its_line_number_at_any_width(aikb: Runner, tmp_path: Path) -> None:
    """A long URL or source used to be cut with its ``:line`` at the end of the row."""
    url = "https://example.org/" + "very-long-path-segment/" * 6
    (tmp_path / "a.md").write_text(f"# A\n\nSee {url} and [[b]].\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("x [[a]]\n", encoding="utf-8")
    for width in ("50", "80"):
        shown = aikb("show", "a", "--no-pager", vault=tmp_path, env={"COLUMNS": width})
        lines = shown.stdout.splitlines()
        external = next(line for line in lines if "↗" in line)
        assert external.endswith(":3") and "…" in external
        assert max(len(line) for line in lines) <= int(width)
        backlink = next(line for line in lines if "←" in line)
        assert backlink.rstrip().endswith("b.md:1")


def test_footnotes_show_numbered_where_they_are_written() -> None:
    out = render(
        "Claim[^b] then[^a] and again[^b], undefined[^none].\n\n"
        "[^a]: Second, see [[Other]].\n"
        "[^b]: First.\n"
        "[^orphan]: Never referred to.\n"
    )
    first, *rest = [line.strip() for line in out.splitlines() if line.strip()]
    assert first == "Claim¹ then² and again¹, undefined[^none]."
    assert rest == ["² Second, see Other.", "¹ First.", "[^orphan] Never referred to."]
    empty = render("Claim[^e] here.\n\n[^e]:\n\nNext paragraph.\n")
    lines = [line.strip() for line in empty.splitlines() if line.strip()]
    assert lines == ["Claim¹ here.", "¹", "Next paragraph."]  # the mark stays its own


def test_footnote_labels_are_data(aikb: Runner, tmp_path: Path) -> None:
    (tmp_path / "N.md").write_text("x[^\x1b[31m]\n\n[^\x1b[31m]: y\n[^\x1b]0;t\x07]: z\n")
    result = aikb("show", "N", "--no-pager", vault=tmp_path)
    assert result.exit_code == 0 and "\x1b" not in result.stdout and "\x07" not in result.stdout


BIG_NOTE = """# Big

## Attention
Introduced in 2014[^bahdanau], scaled in 2017[^vaswani]. Code: `[^code]`.

## Context window
The limit[^vaswani] of what a model reads.

## Notes
[^bahdanau]: Bahdanau et al., 2014.
[^vaswani]: Vaswani et al., 2017.
[^code]: Only named inside code.
"""


def test_a_section_shows_the_footnotes_its_note_keeps_at_the_end(
    aikb: Runner, tmp_path: Path
) -> None:
    (tmp_path / "Big.md").write_text(BIG_NOTE, encoding="utf-8")
    shown = aikb("show", "context window", "--no-pager", vault=tmp_path).stdout
    assert "The limit¹ of what a model reads." in shown
    assert "¹ Vaswani et al., 2017." in shown and "Bahdanau" not in shown
    shown = aikb("show", "attention", "--no-pager", vault=tmp_path).stdout
    assert "Introduced in 2014¹, scaled in 2017²." in shown
    assert "¹ Bahdanau et al., 2014." in shown and "² Vaswani et al., 2017." in shown
    assert "Only named inside code" not in shown  # a reference in code is not one
    as_json = aikb("show", "attention", "--json", vault=tmp_path).stdout
    assert "Bahdanau et al." not in as_json  # the JSON content is the section's own source


def test_footnotes_brought_after_a_section_keep_their_form(aikb: Runner, tmp_path: Path) -> None:
    """A footnote written indented (in a list) is not shown as code, a footnote cited by
    a footnote comes along too, and a section embedded elsewhere brings its footnotes."""
    (tmp_path / "Lists.md").write_text(
        "# Lists\n\n## A\n\nSee[^n] and[^a].\n\n## B\n\n- item\n    - nested\n"
        "        [^n]: deep nested def\n\n## End\n\n[^a]: A refers to B[^b].\n[^b]: B.\n",
        encoding="utf-8",
    )
    (tmp_path / "Other.md").write_text("# Other\n\n![[Lists#A]]\n", encoding="utf-8")
    for term in ("Lists#A", "Other"):
        shown = aikb("show", term, "--no-pager", vault=tmp_path).stdout
        assert "See¹ and²." in shown and "¹ deep nested def" in shown
        assert "² A refers to B³." in shown and "³ B." in shown
        assert "[^" not in shown


def test_search_results_fold_long_runs_of_chinese_instead_of_cutting_them(
    aikb: Runner, tmp_path: Path
) -> None:
    """A run of Chinese text has no spaces, so to rich it is one word wider than the
    snippet column: it was cut with an ellipsis, and the matched words with it."""
    text = (
        "选择在同步前在多个设备上修改同一文件时如何解决冲突。"
        "你可以自动合并更改，也可以创建单独的冲突文件以供手动审查。"
    )
    (tmp_path / "冲突.md").write_text(f"# 冲突\n\n{text} 其他内容。\n", "utf-8")
    result = aikb("search", "手动审查", vault=tmp_path, env={"COLUMNS": "80"})
    assert result.exit_code == 0
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert "手动审查" in result.stdout.replace("\n", "").replace(" ", "")
    assert "…" not in result.stdout
