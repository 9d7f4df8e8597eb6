"""``aikb browse``: the textual app driven headlessly through its pilot.

Each test runs the app with ``App.run_test()`` inside ``asyncio.run`` (no pytest plugin
needed) and asserts what the panes show: the reading pane's rendered lines, the rows of
the lists, and for a few things the very cells on screen.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Input, OptionList

from aikb import browse
from aikb.browse import BrowseApp, NoteView, SearchBox
from aikb.index import Index
from aikb.vault import bundled_vault

SIZE = (100, 30)


@pytest.fixture(scope="module")
def index() -> Iterator[Index]:
    """The bundled sample vault, indexed in memory, usable from the search thread."""
    built = Index.open(bundled_vault(), None, threads=True)
    built.sync()
    yield built
    built.close()


def shown(widget: Widget) -> str:
    """What a widget shows on screen, its lines joined and whitespace collapsed."""
    width, height = widget.size
    strips = widget.render_lines(Region(0, 0, width, height))
    return " ".join(" ".join(strip.text.split()) for strip in strips).strip()


def rows(app: BrowseApp, selector: str) -> list[str]:
    """The text of each row of a list (scrolled into view or not)."""
    view = app.query_one(selector, OptionList)
    return [" ".join(str(option.prompt).split()) for option in view.options]


def reading(app: BrowseApp) -> str:
    """The reading pane's lines (title block and body), whitespace collapsed; all of
    them, scrolled into view or not."""
    return " ".join(" ".join(app.query_one(NoteView).lines).split())


async def settle(app: BrowseApp, pilot: Pilot[None]) -> None:
    """Let running searches finish (or be cancelled) and their results reach the screen.

    Not ``workers.wait_for_complete()``: it raises when a search it waits for is
    cancelled by the next keystroke, which is the normal fate of most of them.
    """
    await pilot.pause()  # let pending Input.Changed messages start their searches
    for _ in range(500):
        if all(worker.is_finished for worker in app.workers):
            break
        await pilot.pause(0.01)
    await pilot.pause()


def drive(app: BrowseApp, script: Callable[[Pilot[None]], Awaitable[None]]) -> None:
    """Run ``script`` against the app, headless."""

    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await script(pilot)

    asyncio.run(main())


def record_notifications(app: BrowseApp, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Collect ``(message, severity)`` of every notification the app raises; each must
    be shown literally (``markup=False``), since messages may quote notes."""
    seen: list[tuple[str, str]] = []
    original = app.notify

    def notify(message: str, **kwargs: Any) -> None:
        assert kwargs.get("markup") is False, message
        seen.append((message, kwargs.get("severity", "information")))
        original(message, **kwargs)

    monkeypatch.setattr(app, "notify", notify)
    return seen


async def select_row(app: BrowseApp, pilot: Pilot[None], selector: str, text: str) -> None:
    """Focus a list, highlight the first row containing ``text``, press Enter."""
    view = app.query_one(selector, OptionList)
    view.focus()
    view.highlighted = next(n for n, row in enumerate(rows(app, selector)) if text in row)
    await pilot.press("enter")
    await pilot.pause()


def test_search_then_open_result(index: Index) -> None:
    app = BrowseApp(index)

    async def script(pilot: Pilot[None]) -> None:
        box = app.query_one(SearchBox)
        assert app.focused is box
        # Keys, each starting a search that the next one cancels; then the rest of the
        # query at once, as a paste would (typing it key by key only makes the test slow).
        await pilot.press(*"con")
        box.insert_text_at_cursor("text window")
        await settle(app, pilot)
        assert box.value == "context window"
        results = rows(app, "#results")
        assert results[0].startswith("Context window")
        assert "Context window.md" in results[0]
        assert "│ Context window │ Context window.md │" in shown(app.query_one("#results"))
        await pilot.press("enter")  # Enter in the box opens the top result
        await pilot.pause()
        text = reading(app)
        assert text.startswith("Context window")
        assert "context window is the largest number of tokens" in text
        links = rows(app, "#links")
        assert any(row.startswith("→ Tokens") for row in links)
        assert "→ Tokens :13" in shown(app.query_one("#links"))
        assert any(row.startswith("✗") or row.startswith("↗") for row in links)
        assert any(row.startswith("← ") for row in links)
        # An empty query clears the results.
        box.value = ""
        await settle(app, pilot)
        assert rows(app, "#results") == []
        assert not app.query_one("#results").display

    drive(app, script)


def test_follow_link_and_go_back(index: Index) -> None:
    app = BrowseApp(index, "Context window")

    async def script(pilot: Pilot[None]) -> None:
        assert reading(app).startswith("Context window")
        await select_row(app, pilot, "#links", "→ Tokens")
        assert reading(app).startswith("Tokens")
        assert "A token is a piece of text from a fixed vocabulary" in reading(app)
        assert isinstance(app.focused, OptionList)
        await pilot.press("backspace")
        await pilot.pause()
        assert reading(app).startswith("Context window")
        # Follow a backlink, then Alt+Left goes back too.
        await select_row(app, pilot, "#links", "← Counting tokens")
        assert reading(app).startswith("Tokens › Counting tokens")
        await pilot.press("alt+left")
        await pilot.pause()
        assert reading(app).startswith("Context window")
        assert app.history == []

    drive(app, script)


def test_keys_search_and_quit(index: Index) -> None:
    app = BrowseApp(index, "Context window")

    async def script(pilot: Pilot[None]) -> None:
        assert isinstance(app.focused, OptionList)
        await pilot.press("/")
        assert isinstance(app.focused, SearchBox)
        await pilot.press("q")  # typed into the box: no quitting
        assert app.query_one(SearchBox).value == "q"
        assert app.return_code is None
        await pilot.press("escape")
        assert not isinstance(app.focused, Input)
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0

    drive(app, script)


def test_open_in_editor(index: Index, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.delenv("EDITOR", raising=False)
    calls: list[list[str]] = []

    def run(argv: list[str], **_: object) -> None:
        calls.append(argv)

    monkeypatch.setattr(browse.subprocess, "run", run)
    app = BrowseApp(index, "Context window")
    seen = record_notifications(app, monkeypatch)

    async def script(pilot: Pilot[None]) -> None:
        await pilot.press("o")
        await pilot.pause()
        assert seen and seen[-1][1] == "error" and "EDITOR" in seen[-1][0]
        monkeypatch.setenv("EDITOR", "vi")
        # The headless driver cannot hand the terminal over: an error, no editor run.
        await pilot.press("o")
        await pilot.pause()
        assert seen[-1][1] == "error" and calls == []
        monkeypatch.setattr(app, "suspend", contextlib.nullcontext)
        await pilot.press("o")
        await pilot.pause()
        assert calls == [["vi", "+1", str(bundled_vault() / "Context window.md")]]
        assert reading(app).startswith("Context window")  # still shown after re-sync

    drive(app, script)


def test_start_term(index: Index) -> None:
    app = BrowseApp(index, "Температура")

    async def script(pilot: Pilot[None]) -> None:
        assert reading(app).startswith("Temperature")
        assert "aliases: Температура" in reading(app)
        assert "Temperature" in shown(app.query_one(NoteView))  # on screen

    drive(app, script)
    missing = BrowseApp(index, "attention")

    async def fallback(pilot: Pilot[None]) -> None:
        await settle(missing, pilot)
        assert missing.query_one(SearchBox).value == "attention"
        assert rows(missing, "#results")
        assert missing.current is None

    drive(missing, fallback)


def test_narrow_screen(index: Index) -> None:
    app = BrowseApp(index, "Tokens")

    async def main() -> None:
        async with app.run_test(size=(40, 24)) as pilot:
            assert app.screen.has_class("-narrow")
            assert reading(app).startswith("Tokens")
            results, links = app.query_one("#results"), app.query_one("#links")
            await pilot.press("/")
            app.query_one(SearchBox).insert_text_at_cursor("rag")
            await settle(app, pilot)
            # Stacked: the results take the whole width, the links give them room.
            assert results.display and results.region.width == 40
            assert not links.display
            assert rows(app, "#results")[0].startswith("RAG")
            await pilot.press("enter")
            await pilot.pause()
            assert reading(app).startswith("RAG")
            assert not results.display and links.display
            assert isinstance(app.focused, NoteView)
            await pilot.press("/")  # the query is still there, and so are its results
            await pilot.pause()
            assert results.display

    asyncio.run(main())


def test_note_text_is_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "Odd [b]note.md").write_text(
        "# Odd [b]note[/b]\n\nBell \x07 and [red]red[/red] here, see [[No [i]where]].\n",
        encoding="utf-8",
    )
    vault = Index.open(tmp_path, None, threads=True)
    vault.sync()
    app = BrowseApp(vault)
    seen = record_notifications(app, monkeypatch)

    async def script(pilot: Pilot[None]) -> None:
        app.query_one(SearchBox).insert_text_at_cursor("odd")
        await settle(app, pilot)
        assert rows(app, "#results")[0].startswith("Odd [b]note")
        await pilot.press("enter")
        await pilot.pause()
        text = reading(app)
        assert "[red]red[/red]" in text and "\u2407" in text and "\x07" not in text
        links = rows(app, "#links")
        assert any(row.startswith("✗ No [i]where (missing note)") for row in links)
        await select_row(app, pilot, "#links", "✗ No [i]where")
        assert seen[-1] == ("cannot follow No [i]where: missing note", "warning")

    drive(app, script)
    vault.close()
