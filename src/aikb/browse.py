"""``aikb browse``: a terminal UI for reading the vault and walking its links.

The screen has a search box at the top; below it, on the left, the live search results
(shown while there is a query), and on the right the reading pane (title block and the
rendered body) over the list of the shown concept's links and backlinks. At less than
:data:`NARROW` columns the results sit above the reading pane instead.

Searching runs in a worker thread, so typing never waits for it; each keystroke cancels
the previous search (a short pause before searching absorbs fast typing) and results of
a query that is no longer in the box are dropped. The SQLite connection is shared with
that thread (the index must be opened with ``threads=True``), and every use of the index
holds one lock, so the UI and the worker never interleave statements or cache updates.

Text from notes is data: it reaches the screen only inside :class:`rich.text.Text`
objects (never parsed as markup) after :func:`aikb.normalize.sanitize`, or through the
renderers of :mod:`aikb.render`, which do the same.

textual is imported here and nowhere else; the CLI imports this module only for
``browse``.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Sequence
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.rule import Rule
from rich.text import Text
from textual import events, work
from textual.app import App, ComposeResult, SuspendNotSupported
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.geometry import Size
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Footer, Input, OptionList
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from aikb.editor import editor_command
from aikb.errors import AikbError, NotFound, UsageError
from aikb.index import Index
from aikb.model import Backlink, Concept, ResolvedLink
from aikb.normalize import sanitize
from aikb.render import THEME, RenderContext, body_markdown, title_block
from aikb.search import Hit, lookup, search

RESULT_LIMIT = 30
"""Search results listed at most."""
DEBOUNCE = 0.06
"""Seconds a search waits before running, so a burst of keystrokes runs one search."""
HISTORY_LIMIT = 200
"""Concepts remembered for going back."""
NARROW = 70
"""Below this many columns the panes stack vertically."""


def _plain(value: str, style: str = "") -> Text:
    """Note text as a literal rich Text: no markup, control characters made visible."""
    return Text(sanitize(value), style=style)


def _target(arrow: str, concept_id: str, concepts: dict[str, Concept], line: int) -> Text:
    """``→ Title :line · Note``: the concept's title, the line of the link, and (dimmed,
    for a section) the note it is in; the title comes first so it survives truncation."""
    label = Text(arrow + " ")
    concept = concepts.get(concept_id)
    label.append_text(_plain(concept.title if concept else concept_id))
    label.append(f" :{line}", "dim")
    if concept is not None and not concept.is_note:
        label.append_text(_plain(f" · {concept.note}", "dim"))
    return label


class NoteView(ScrollView, can_focus=True):
    """The reading pane: its content is rendered into lines when it or the pane's width
    changes, and only the lines in view are drawn (textual's line API).

    A long note's Markdown takes a good fraction of a second to render; a plain widget
    would render it again to measure it, to paint it and on every layout.
    """

    DEFAULT_CSS = """
    NoteView { overflow-x: hidden; scrollbar-gutter: stable; }
    """

    def __init__(self, content: RenderableType = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._content = content
        self._strips: list[Strip] = []
        self._width = -1

    @property
    def lines(self) -> list[str]:
        """The text of every rendered line, in view or not."""
        return [strip.text for strip in self._strips]

    def update(self, content: RenderableType) -> None:
        """Show new content from its top."""
        self._content = content
        self._width = -1
        self.scroll_to(0, 0, animate=False, immediate=True)
        self._render_content()

    def on_resize(self) -> None:
        """Re-render at the new width."""
        self._render_content()

    def _render_content(self) -> None:
        width = self.scrollable_content_region.width
        if width <= 0 or width == self._width:
            return
        options = self.app.console_options.update(width=width, height=None, highlight=False)
        lines = self.app.console.render_lines(self._content, options, pad=True)
        self._strips = [Strip(line, width) for line in lines]
        self._width = width
        self.virtual_size = Size(width, len(self._strips))
        self.refresh()

    def render_line(self, y: int) -> Strip:
        """Line ``y`` of the view: a line of the content, scrolled."""
        scroll_x, scroll_y = self.scroll_offset
        style = self.rich_style
        index = scroll_y + y
        if index >= len(self._strips):
            return Strip.blank(self.size.width, style)
        strip = self._strips[index].crop_extend(scroll_x, scroll_x + self.size.width, style)
        return strip.apply_style(style)


class SearchResults(Message):
    """Posted by the search worker (from its thread) when a query's hits are ready."""

    def __init__(self, query: str, hits: list[Hit], error: str | None = None) -> None:
        super().__init__()
        self.query = query
        self.hits = hits
        self.error = error


class SearchBox(Input):
    """The search input; Escape or Down leaves it for the lists."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.leave_search", "Lists"),
        Binding("down", "app.leave_search", "To results", show=False),
    ]


class Entry(Option):
    """A row of a list: a search result or a link (``target`` is the concept id it leads
    to; None with ``notice`` saying why it cannot be followed), or a disabled header."""

    def __init__(
        self, label: Text, target: str | None = None, notice: str = "", header: bool = False
    ) -> None:
        super().__init__(label, disabled=header)
        self.target = target
        self.notice = notice


def _result(hit: Hit) -> Entry:
    """A search result: the concept's title and, dimmed, where it is."""
    concept = hit.concept
    label = Text()
    label.append_text(_plain(concept.title, "bold"))
    label.append("\n")
    where = concept.path if concept.is_note else f"{concept.path}:{concept.line}"
    label.append_text(_plain(where, "dim"))
    return Entry(label, target=concept.id)


class BrowseApp(App[None]):
    """Search the vault as you type, read concepts, follow links and backlinks.

    ``index`` must be synced and opened with ``threads=True`` (searches run in a worker
    thread). With ``term``, the concept :func:`aikb.search.lookup` finds for it is shown
    at start; when nothing is found the term is put in the search box instead.
    """

    TITLE = "aikb browse"
    ENABLE_COMMAND_PALETTE = False
    HORIZONTAL_BREAKPOINTS = [  # noqa: RUF012 - textual types it as an instance variable
        (0, "-narrow"),
        (NARROW, "-wide"),
    ]

    CSS = """
    #search { margin: 0; }
    #main { height: 1fr; }
    #results {
        display: none;
        width: 38%;
        min-width: 24;
        max-width: 50;
        height: 1fr;
        border: round $border-blurred;
    }
    #main.-searching #results { display: block; }
    #right { width: 1fr; height: 1fr; }
    #reader {
        height: 2fr;
        border: round $border-blurred;
        padding: 0 1;
    }
    #links {
        height: 1fr;
        min-height: 5;
        border: round $border-blurred;
    }
    #results:focus, #reader:focus, #links:focus { border: round $border; }
    OptionList {
        padding: 0;
        background: $background;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    OptionList > .option-list--option { padding: 0 1; }
    Screen.-narrow #main { layout: vertical; }
    Screen.-narrow #results {
        width: 100%;
        max-width: 100%;
        height: auto;
        max-height: 40%;
    }
    Screen.-narrow #reader { padding: 0; }
    Screen.-narrow #main.-searching #links { display: none; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        # priority: handled before the key reaches the focused list, so what is typed
        # right after "/" already goes to the search box (check_action lets "/" through
        # to the box when it has focus).
        Binding("slash", "focus_search", "Search", priority=True),
        Binding("backspace", "go_back", "Back"),
        Binding("alt+left", "go_back", "Back", show=False),
        Binding("o", "edit", "Edit"),
        Binding("q", "quit_app", "Quit"),
    ]

    def __init__(self, index: Index, term: str | None = None) -> None:
        super().__init__()
        self.index = index
        self.term = term
        self.current: Concept | None = None
        self.history: list[str] = []
        self.results: list[Hit] = []
        self._lock = threading.RLock()
        self._open_first = False
        self._shown_query = ""
        # The renderers name their styles (aikb.title, markdown.wikilink, ...).
        self.console.push_theme(THEME)

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        """Search box; results on the left; reading pane over links on the right."""
        yield SearchBox(placeholder="search notes…", id="search")
        with Horizontal(id="main"):
            results = OptionList(id="results")
            results.border_title = "Results"
            yield results
            with Vertical(id="right"):
                reader = NoteView(self._welcome(), id="reader")
                reader.border_title = "Note"
                yield reader
                links = OptionList(id="links")
                links.border_title = "Links · Backlinks"
                yield links
        yield Footer(show_command_palette=False)

    @staticmethod
    def _welcome() -> Text:
        return Text(
            "Type to search the vault; Enter opens a result.\n"
            "Enter on a link follows it, Backspace goes back, o opens the editor, "
            "/ returns to the search box, q quits.",
            style="dim",
        )

    def on_mount(self) -> None:
        """Show the starting term's concept, or search for it."""
        box = self.query_one(SearchBox)
        self.set_focus(box)
        if not self.term:
            return
        try:
            with self._lock:
                found = lookup(self.index, self.term).concept
        except NotFound:
            box.value = self.term  # Input.Changed starts the search
            return
        self.show(found.id)
        self.set_focus(self.query_one("#links", OptionList))

    # -- showing a concept -----------------------------------------------------------------

    def show(self, concept_id: str, remember: bool = True) -> bool:
        """Show a concept in the reading pane and list its links; False if it is gone.

        With ``remember``, the concept shown before is pushed on the history.
        """
        with self._lock:
            concept = self.index.concept(concept_id)
            if concept is None:
                self.tell(f"{concept_id} is no longer in the vault", severity="warning")
                return False
            content = self.index.shown_content(concept)
            links = self.index.links_from(concept)
            backlinks = self.index.backlinks(concept)
            titles = self._titles(links, backlinks)
            broken = frozenset(item.link.text for item in links if item.reason)
            context = RenderContext(broken, self.index.embed, note=concept.note)
            body = body_markdown(content, concept, context)
        previous = self.current
        if remember and previous is not None and previous.id != concept.id:
            self.history.append(previous.id)
            del self.history[:-HISTORY_LIMIT]
        self.current = concept
        self.query_one(NoteView).update(Group(title_block(concept), Rule(style="dim"), body))
        if self.screen.has_class("-narrow"):  # no room for results, note and links at once
            self.query_one("#main").remove_class("-searching")
            if self.focused is self.query_one("#results"):
                self.set_focus(self.query_one(NoteView))
        self._fill(self.query_one("#links", OptionList), _entries(links, backlinks, titles))
        self.refresh_bindings()
        return True

    def _titles(
        self, links: Sequence[ResolvedLink], backlinks: Sequence[Backlink]
    ) -> dict[str, Concept]:
        """The concepts the links reach and the backlinks come from, by id."""
        ids = {item.resolved for item in links if item.resolved}
        ids.update(item.source for item in backlinks)
        found = {concept_id: self.index.concept(concept_id) for concept_id in ids}
        return {concept_id: c for concept_id, c in found.items() if c is not None}

    @staticmethod
    def _fill(view: OptionList, entries: Sequence[Entry]) -> None:
        """Replace a list's rows and highlight its first selectable one."""
        view.set_options(entries)
        first = next((n for n, entry in enumerate(entries) if not entry.disabled), None)
        view.highlighted = first

    # -- searching -------------------------------------------------------------------------

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """Back in the search box with a query: its results show again."""
        if isinstance(event.widget, SearchBox) and self._shown_query:
            self.query_one("#main").add_class("-searching")

    def on_input_changed(self, event: Input.Changed) -> None:
        """Search for the new query (an empty one clears the results)."""
        query = event.value.strip()
        if query:
            self._search(query)
            return
        self.workers.cancel_group(self, "search")
        self._open_first = False
        self._show_results([])

    @work(thread=True, exclusive=True, group="search", exit_on_error=False)
    def _search(self, query: str) -> None:
        """Run :func:`aikb.search.search` off the UI thread and post the hits back."""
        worker = get_current_worker()
        time.sleep(DEBOUNCE)
        if worker.is_cancelled:
            return
        error: str | None = None
        hits: list[Hit] = []
        with self._lock:
            if worker.is_cancelled:
                return
            try:
                hits = search(self.index, query, limit=RESULT_LIMIT)
            except Exception as exc:  # a failed search must not take the UI down
                error = f"search failed: {exc}"
        if not worker.is_cancelled:
            self.post_message(SearchResults(query, hits, error))

    def on_search_results(self, message: SearchResults) -> None:
        """Show a search's hits, unless the query has changed since."""
        if message.query != self.query_one(SearchBox).value.strip():
            return
        if message.error:
            self.tell(message.error, severity="error")
        self._show_results(message.hits)
        if self._open_first:
            self._open_first = False
            self._open_top_result()

    def _show_results(self, hits: list[Hit]) -> None:
        self.results = hits
        self._shown_query = self.query_one(SearchBox).value.strip()
        view = self.query_one("#results", OptionList)
        shown = bool(self._shown_query)
        self.query_one("#main").set_class(shown, "-searching")
        view.border_title = f"Results ({len(hits)})" if shown else "Results"
        entries = [_result(hit) for hit in hits]
        if shown and not hits:
            entries = [Entry(Text("no matches"), header=True)]
        self._fill(view, entries)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in the search box opens the top result (once the search has finished)."""
        query = event.value.strip()
        if not query:
            return
        if query != self._shown_query:  # its search is still running
            self._open_first = True
            return
        self._open_top_result()

    def _open_top_result(self) -> None:
        view = self.query_one("#results", OptionList)
        if not self.results:
            self.tell("no matches", severity="warning")
            return
        view.highlighted = 0
        self.set_focus(view)
        self.show(self.results[0].concept.id)

    # -- lists -----------------------------------------------------------------------------

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Enter or a click: open a result, or follow a link or backlink."""
        entry = event.option
        if not isinstance(entry, Entry):
            return
        if entry.target is not None:
            self.show(entry.target)
        elif entry.notice:
            self.tell(entry.notice, severity="warning")

    # -- actions ---------------------------------------------------------------------------

    def tell(self, message: str, severity: SeverityLevel = "information") -> None:
        """A notification whose text is data (it may quote a note): shown literally."""
        self.notify(sanitize(message), severity=severity, markup=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys that type text in the search box are not actions there; ``back`` and
        ``edit`` are greyed out when there is nothing to go back to or open."""
        typing = isinstance(self.focused, Input)
        if action in ("quit_app", "edit", "focus_search") and typing:
            return False
        if action == "edit" and self.current is None:
            return None
        if action == "go_back" and not self.history:
            return None
        return True

    def action_focus_search(self) -> None:
        """Focus the search box (``/``); at once, so keys typed right after land in it."""
        self.set_focus(self.query_one(SearchBox))

    def action_leave_search(self) -> None:
        """From the search box to the results, else the links, else the reading pane."""
        results = self.query_one("#results", OptionList)
        links = self.query_one("#links", OptionList)
        if self.query_one("#main").has_class("-searching") and self.results:
            self.set_focus(results)
        elif links.option_count:
            self.set_focus(links)
        else:
            self.set_focus(self.query_one(NoteView))

    def action_go_back(self) -> None:
        """Show the concept shown before the current one."""
        while self.history:
            if self.show(self.history.pop(), remember=False):
                return
        self.tell("no earlier note")

    def action_quit_app(self) -> None:
        """Leave the browser."""
        self.exit()

    def action_edit(self) -> None:
        """Open the current concept in ``$VISUAL``/``$EDITOR`` at its line, then reload."""
        concept = self.current
        if concept is None:
            self.tell("nothing to open: pick a note first", severity="warning")
            return
        try:
            argv = editor_command(self.index.root / concept.path, concept.line)
        except UsageError as exc:
            self.tell(str(exc), severity="error")
            return
        try:
            with self.suspend():
                subprocess.run(argv, check=False)
        except SuspendNotSupported:
            self.tell("cannot hand the terminal to an editor here", severity="error")
            return
        except OSError as exc:
            self.tell(f"cannot run {argv[0]}: {exc.strerror or exc}", severity="error")
            return
        try:
            with self._lock:
                self.index.sync()
        except (AikbError, OSError) as exc:
            self.tell(f"cannot re-read the vault: {exc}", severity="error")
            return
        self.show(concept.id, remember=False)


def _entries(
    links: Sequence[ResolvedLink], backlinks: Sequence[Backlink], titles: dict[str, Concept]
) -> list[Entry]:
    """Rows of the links list: outgoing links, backlinks, then external links, each
    group under a header with its count."""
    internal = [item for item in links if item.link.kind != "external"]
    external = [item for item in links if item.link.kind == "external"]
    rows = [Entry(Text(f"Links ({len(internal)})"), header=True)]
    rows.extend(_link_row(item, titles) for item in internal)
    rows.append(Entry(Text(f"Backlinks ({len(backlinks)})"), header=True))
    for back in backlinks:
        rows.append(Entry(_target("←", back.source, titles, back.line), target=back.source))
    if external:
        rows.append(Entry(Text(f"External ({len(external)})"), header=True))
        rows.extend(_link_row(item, titles) for item in external)
    return rows


def _link_row(item: ResolvedLink, titles: dict[str, Concept]) -> Entry:
    """``→ title`` for a resolved link, ``✗ target (reason)`` for a broken one, ``↗ url``
    for an external one, ``📎 path`` for an attachment. Resolved links can be followed,
    and broken ones whose note exists (a missing heading or block): to that note."""
    link = item.link
    line = Text(f" :{link.line}", "dim")
    if link.kind == "external":
        label = Text("↗ ", "blue")
        label.append_text(_plain(link.target, "blue"))
        return Entry(label, notice=f"external link: {link.target}")
    if item.resolved and not item.reason:
        label = _target("→", item.resolved, titles, link.line)
        return Entry(label, target=item.resolved)
    if item.attachment:
        label = Text("📎 ")
        label.append_text(_plain(item.attachment))
        label.append_text(line)
        return Entry(label, notice=f"attachment: {item.attachment}")
    reason = item.reason or "unresolved"
    label = Text("✗ ", "red")
    label.append_text(_plain(link.text, "red"))
    label.append(f" ({reason})", "red")
    label.append_text(line)
    if item.resolved:  # the note is there, not the heading or block
        return Entry(label, target=item.resolved)
    return Entry(label, notice=f"cannot follow {link.text}: {reason}")


def run_browse(index: Index, term: str | None = None) -> None:
    """Run the browser on a synced index opened with ``threads=True`` until the user quits."""
    BrowseApp(index, term).run()
