"""The ``aikb`` command line: a thin typer app over the core.

It parses options, opens the vault's index, calls the core, hands results to
``render.py`` and maps errors to exit codes:

* 0: found / success;
* 1: nothing found (unknown term, no search result);
* 2: usage, vault or config error.

Heavy modules (the parser, YAML, rapidfuzz, rich's Markdown) are imported inside the
commands that use them, so ``aikb --help`` and ``aikb --version`` start fast.
"""

import errno
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import typer

from aikb import __version__
from aikb.errors import AikbError

if TYPE_CHECKING:
    from rich.console import Console

    from aikb.index import Index
    from aikb.search import Lookup

app = typer.Typer(
    name="aikb",
    help="Look up, search and list the concepts of an Obsidian-style vault of AI notes.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

MAX_WARNINGS = 20
_OPENED: dict[str, Any] = {}
"""The cache database the running command uses, so a damaged one can be rebuilt."""


class GraphFormat(StrEnum):
    """Output formats of ``aikb graph``."""

    tree = "tree"
    json = "json"
    dot = "dot"
    mermaid = "mermaid"


class Options(NamedTuple):
    """Global options, shared by every command through the typer context."""

    vault: str | None = None
    no_cache: bool = False


def _version(value: bool) -> None:
    if value:
        print(f"aikb {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    vault: Annotated[
        str | None,
        typer.Option(
            "--vault",
            metavar="PATH",
            help="Vault folder (default: $AIKB_VAULT, the config file, the bundled vault).",
        ),
    ] = None,
    no_cache: Annotated[
        bool,
        typer.Option("--no-cache", help="Do not read or write the on-disk index; parse in memory."),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Look up, search and list the concepts of an Obsidian-style vault of AI notes.

    Example: aikb --vault ~/Obsidian/AI show "context window"
    """
    ctx.obj = Options(vault=vault, no_cache=no_cache)


def stdout() -> "Console":
    """The console for data (stdout); colour only on a terminal, NO_COLOR honoured."""
    from rich.console import Console

    from aikb.render import THEME

    return Console(theme=THEME, highlight=False, soft_wrap=False)


def stderr() -> "Console":
    """The console for warnings and messages (stderr)."""
    from rich.console import Console

    from aikb.render import THEME

    return Console(theme=THEME, stderr=True, highlight=False)


def warn(message: str) -> None:
    """One line on stderr, prefixed ``aikb:``; the message is printed literally, control
    characters, line breaks and tabs made visible (:func:`~aikb.normalize.sanitize_line`).
    Plain text, so a command with nothing else to show never imports rich's console and
    the theme for it (about 90 ms). A stderr that cannot be written (``2>/dev/full``, a
    closed pipe) loses the message, not the command's data on stdout."""
    from aikb.normalize import sanitize_line

    try:
        sys.stderr.write(f"aikb: {sanitize_line(message)}\n")
        sys.stderr.flush()
    except OSError:
        pass  # nowhere left to say it


@contextmanager
def reporting() -> Iterator[None]:
    """Turn aikb errors into one line on stderr and their exit code."""
    try:
        yield
    except AikbError as exc:
        message = str(exc)
        suggestions = getattr(exc, "suggestions", None)
        if suggestions:
            quoted = ", ".join(repr(s) for s in suggestions)
            message += f"; did you mean {quoted}?"
        warn(message)
        raise typer.Exit(exc.exit_code) from None


def open_index(
    ctx: typer.Context,
    quiet: bool = False,
    rebuild: bool = False,
    threads: bool = False,
    preload: tuple[str, ...] = (),
    full: bool = False,
) -> "Index":
    """Locate the vault, open its index (cache dir, or memory) and bring it up to date.

    An unusable cache (unwritable, locked, corrupt) never fails the command: it is rebuilt,
    or the index falls back to memory with one warning. Problems found while parsing
    (bad front matter, unreadable files) are printed once, when the note is parsed, unless
    ``quiet`` (the caller reports them itself). ``rebuild`` deletes the database first
    (it is damaged); ``full`` parses every note again inside it; ``threads`` lets other
    threads use the index (the TUI).

    The vault's files are listed and compared with the index in the background
    (:func:`aikb.index.survey`) while this process imports the ``preload`` modules the
    command will need.
    """
    import functools
    import importlib
    import sqlite3

    from aikb.index import (
        CacheUnavailable,
        Index,
        database_path,
        is_busy,
        remove_database,
        survey,
    )
    from aikb.vault import cache_dir, in_background, locate_vault

    options: Options = ctx.obj or Options()
    root = locate_vault(options.vault)
    path = None if options.no_cache else database_path(root, cache_dir())
    surveyed = in_background(functools.partial(survey, root, None if rebuild or full else path))
    for module in preload:
        importlib.import_module(module)
    if not surveyed.ready():
        # Still listing, or comparing a changed vault with its index: notes will likely
        # be parsed. Load the parser (PyYAML alone takes 30 ms) instead of waiting idle.
        from aikb.syntax import parser

        importlib.import_module("aikb.parse")
        parser(lean=True)
    listing, changes = surveyed()
    if rebuild and path is not None:
        try:
            remove_database(path)
        except CacheUnavailable as exc:
            warn(f"{exc}; using an in-memory index")
            path = None
    index: Index | None = None

    def waiting() -> None:
        warn("another aikb is updating the index; waiting for it")

    if path is not None:
        for attempt in range(2):
            try:
                index = Index.open(root, path, threads=threads)
                report = index.sync(
                    progress=_progress(ctx),
                    waiting=waiting,
                    listing=listing,
                    full=full,
                    changes=changes,
                )
                _OPENED["database"] = path
                break
            except CacheUnavailable as exc:
                warn(f"{exc}; using an in-memory index")
                index = None
                break
            except sqlite3.DatabaseError as exc:
                if index is not None:
                    index.close()
                index = None
                if is_busy(exc):
                    warn(f"the index {path} stays locked; using an in-memory index")
                    break
                if attempt:
                    warn(f"index {path} is unusable ({exc}); using an in-memory index")
                    break
                try:
                    remove_database(path)
                except CacheUnavailable as cannot:
                    warn(f"index {path} is unusable ({exc}) and {cannot}; using an in-memory index")
                    break
    if index is None:
        index = Index.open(root, None, threads=threads)
        report = index.sync(progress=_progress(ctx), listing=listing)
    if not quiet:
        _print_problems([str(p) for p in report.problems])
    ctx.call_on_close(index.close)
    return index


def _looked_up(index: "Index", term: str) -> "Lookup":
    """:func:`aikb.search.lookup`, telling on stderr when the concept found is not quite
    what ``term`` names: the closest match to it, or the note of a link whose heading or
    block is missing. Raises :class:`~aikb.errors.NotFound` as lookup does."""
    from aikb.search import lookup

    found = lookup(index, term)
    if found.how == "fuzzy":
        warn(f"showing {found.concept.id!r}, the closest match to {term!r}")
    if found.missing:
        warn(f"{term!r}: {found.missing} in {found.concept.id!r}; showing the note")
    return found


def _print_problems(lines: list[str]) -> None:
    for line in lines[:MAX_WARNINGS]:
        warn(f"warning: {line}")
    if len(lines) > MAX_WARNINGS:
        warn(f"warning: {len(lines) - MAX_WARNINGS} more problems not shown")


class _ProgressBar:
    """A progress bar on stderr for big builds (500 notes or more), drawn from the first
    call ``bar(done, total)``. :meth:`stop` erases it and shows the cursor again; the
    command calls it however the build ends (Ctrl-C included), via ``ctx``."""

    def __init__(self, ctx: typer.Context) -> None:
        self._bar: Any = None
        self._task: Any = None
        ctx.call_on_close(self.stop)

    def __call__(self, done: int, total: int) -> None:
        if total < 500:
            return
        if self._bar is None:
            from rich.progress import Progress

            self._bar = Progress(console=stderr(), transient=True)
            self._bar.start()
            self._task = self._bar.add_task("indexing notes", total=total)
        self._bar.update(self._task, completed=done)
        if done >= total:
            self.stop()

    def stop(self) -> None:
        """Erase the bar, if one is drawn; safe to call more than once."""
        if self._bar is not None:
            bar, self._bar = self._bar, None
            bar.stop()


def _progress(ctx: typer.Context) -> _ProgressBar | None:
    """A progress bar for a build, only when stderr is a terminal."""
    return _ProgressBar(ctx) if sys.stderr.isatty() else None


def plural(count: int, word: str) -> str:
    """``1 note``, ``2 notes``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def print_json(data: Any) -> None:
    """JSON on stdout, UTF-8, indented. Characters a terminal could act on (DEL, C1
    controls, bidirectional overrides; C0 is always escaped by JSON) are written as
    ``\\u`` escapes, which decode to the same strings."""
    import re

    encoded = json.dumps(data, ensure_ascii=False, indent=2)
    encoded = re.sub(
        r"[\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]",
        lambda m: f"\\u{ord(m.group()):04x}",
        encoded,
    )
    sys.stdout.write(encoded + "\n")


def is_terminal() -> bool:
    """Whether stdout is an interactive terminal (the pager is used only then)."""
    return sys.stdout.isatty()


def emit(renderable: Any, no_pager: bool = False) -> None:
    """Print a renderable on stdout, through a pager when it is taller than the terminal.

    The pager is ``$AIKB_PAGER``, else ``$PAGER``, else ``less -R`` (colours pass through);
    an empty ``AIKB_PAGER`` or ``--no-pager`` turns it off, and so does output that is not
    a terminal. A pager that cannot be started falls back to printing.
    """
    console = stdout()
    pager = os.environ.get("AIKB_PAGER")
    if pager is None:
        pager = os.environ.get("PAGER") or "less -R"
    if no_pager or not pager.strip() or not is_terminal():
        console.print(renderable)
        return
    with console.capture() as capture:
        console.print(renderable)
    text = capture.get()
    if text.count("\n") < console.size.height:
        sys.stdout.write(text)
        return
    import shlex
    import subprocess

    try:
        subprocess.run(shlex.split(pager), input=text, text=True, encoding="utf-8", check=False)
    except (OSError, ValueError):
        sys.stdout.write(text)


def _completion_index(ctx: typer.Context) -> "Index":
    """The index for shell completion: the cached one as it is (no scan of the files, to
    answer fast), or a fresh in-memory one when there is none yet."""
    from aikb.index import Index, database_path
    from aikb.vault import cache_dir, locate_vault

    root_params = ctx.find_root().params
    root = locate_vault(root_params.get("vault"))
    path = database_path(root, cache_dir())
    if path.exists() and not root_params.get("no_cache"):
        index = Index.open(root, path)
        if index.note_count():
            return index
    index = Index.open(root, None)
    index.sync()
    return index


def _completions(values: list[str], incomplete: str) -> list[str]:
    """Candidates as the shell should insert them.

    Names match case-insensitively, but the shell keeps only candidates that start with
    the typed text as typed, so a candidate keeps the user's spelling of its beginning
    (``темп`` completes to ``температура``; lookups ignore case anyway). bash inserts
    candidates as they are, so spaces and quotes are escaped there; zsh and fish quote
    by themselves.
    """
    import re

    bash = os.environ.get("_AIKB_COMPLETE", "").endswith("bash")
    out: list[str] = []
    for value in values:
        head = value[: len(incomplete)]
        if head != incomplete and head.casefold() == incomplete.casefold():
            value = incomplete + value[len(incomplete) :]
        if bash:
            value = re.sub(r"([^\w\-./:@%+,^=])", r"\\\1", value)
        out.append(value)
    return out


def complete_term(ctx: typer.Context, incomplete: str) -> list[str]:
    """Completions for a TERM: names and aliases starting with what was typed."""
    try:
        return _completions(_completion_index(ctx).complete(incomplete), incomplete)
    except Exception:
        return []


def complete_tag(ctx: typer.Context, incomplete: str) -> list[str]:
    """Completions for ``--tag``: the vault's tags starting with what was typed."""
    try:
        want = incomplete.lstrip("#").casefold()
        tags = [t for t in _completion_index(ctx).tags() if t.casefold().startswith(want)]
        return _completions(tags[:100], incomplete.lstrip("#"))
    except Exception:
        return []


# -- commands ---------------------------------------------------------------------------


@app.command()
def show(
    ctx: typer.Context,
    term: Annotated[
        str,
        typer.Argument(
            metavar="TERM",
            help="Note name, alias, heading, concept id or [[wikilink]].",
            autocompletion=complete_term,
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the concept as JSON (see README).")
    ] = False,
    raw: Annotated[bool, typer.Option("--raw", help="Print the Markdown source as it is.")] = False,
    expand: Annotated[
        bool, typer.Option("--expand", help="Also render each directly linked concept.")
    ] = False,
    no_pager: Annotated[bool, typer.Option("--no-pager", help="Never page the output.")] = False,
) -> None:
    """Look a term up and print the concept with its links and backlinks.

    Example: aikb show "context window"
    """
    with reporting():
        index = open_index(ctx, preload=("aikb.search", "aikb.notemarkdown", "markdown_it"))
        found = _looked_up(index, term)
        concept = found.concept
        if found.others:
            others = ", ".join(repr(c.id) for c in found.others)
            more = f" and {found.more} more" if found.more else ""
            name = found.matched if found.how == "fuzzy" else term
            warn(f"{name!r} also names {others}{more}")
        content = index.content(concept)
        if raw:
            from aikb.normalize import sanitize

            sys.stdout.write((sanitize(content) if sys.stdout.isatty() else content) + "\n")
            return
        links = index.links_from(concept)
        backlinks = index.backlinks(concept)
        if as_json:
            from aikb.render import show_json

            print_json(show_json(concept, content, links, backlinks))
            return
        from aikb.render import RenderContext, ShowView

        titles = {}
        for item in links:
            if item.resolved and item.resolved not in titles:
                target = index.concept(item.resolved)
                titles[item.resolved] = " › ".join(target.breadcrumb) if target else item.resolved
        broken = frozenset(item.link.text for item in links if item.reason)
        context = RenderContext(broken, index.embed, note=concept.note)
        expanded = []
        if expand:
            seen = {concept.id}
            for item in links:
                if item.resolved and not item.reason and item.resolved not in seen:
                    seen.add(item.resolved)
                    target = index.concept(item.resolved)
                    if target:
                        expanded.append((target, index.shown_content(target)))
        shown = index.shown_content(concept)
        emit(ShowView(concept, shown, links, backlinks, titles, context, expanded), no_pager)


@app.command()
def search(
    ctx: typer.Context,
    query: Annotated[
        str,
        typer.Argument(metavar="QUERY", help="Words to look for; typos and word forms are fine."),
    ],
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="Show at most N results.")
    ] = 10,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print results as JSON (see README).")
    ] = False,
) -> None:
    """Fuzzy and full-text search across names, aliases, headings and text, ranked.

    Example: aikb search "контекстное окно"
    """
    with reporting():
        from aikb.errors import NotFound, UsageError
        from aikb.search import search as run_search

        if not query.strip():
            raise UsageError("empty query: give words to look for")
        index = open_index(
            ctx, preload=("aikb.search", "aikb.render", "rapidfuzz.fuzz", "rapidfuzz.process")
        )
        hits = run_search(index, query, limit)
        if as_json:  # "[]" when nothing matches, still with exit 1
            from aikb.render import search_json

            print_json(search_json(hits))
        elif hits:
            from aikb.render import SearchView

            stdout().print(SearchView(hits))
        if not hits:
            raise NotFound(f"nothing matches {query!r}")


@app.command("list")
def list_concepts(
    ctx: typer.Context,
    notes: Annotated[bool, typer.Option("--notes", help="Only notes, not their sections.")] = False,
    tag: Annotated[
        str | None,
        typer.Option(
            "--tag",
            metavar="TAG",
            help="Only concepts with this tag (a/b matches a).",
            autocompletion=complete_tag,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the list as JSON (see README).")
    ] = False,
    no_pager: Annotated[bool, typer.Option("--no-pager", help="Never page the output.")] = False,
) -> None:
    """List concepts as a table: title, kind, note, aliases, link counts.

    Example: aikb list --notes --tag llm
    """
    with reporting():
        if tag is not None and not tag.strip().lstrip("#"):
            from aikb.errors import UsageError

            raise UsageError("empty tag; give a tag such as llm or #llm")
        index = open_index(ctx, preload=("aikb.render",))
        concepts = index.concepts(notes_only=notes, tag=tag)
        out_counts, back_counts = index.counts()
        if as_json:
            from aikb.render import list_json

            print_json(list_json(concepts, out_counts, back_counts))
        else:
            from aikb.render import ListView

            if concepts:
                emit(ListView(concepts, out_counts, back_counts), no_pager)
        if not concepts:
            from aikb.errors import NotFound

            raise NotFound("no concepts" + (f" with tag {tag!r}" if tag else ""))


@app.command()
def check(
    ctx: typer.Context,
    orphans: Annotated[
        bool, typer.Option("--orphans", help="Also report notes with no links in or out.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (see README).")
    ] = False,
) -> None:
    """Report what is broken: unresolved and ambiguous links, bad front matter, duplicate aliases.

    Exit status 0 when nothing is reported, 1 otherwise.

    Example: aikb check --orphans
    """
    with reporting():
        from aikb.check import as_json as check_json
        from aikb.check import check as run_check

        index = open_index(ctx, quiet=True)
        findings = run_check(index, orphans=orphans)
        if as_json:
            print_json(check_json(findings))
        else:
            from aikb.render import check_report

            if findings:
                stdout().print(check_report(findings))
            if findings:
                notes = len({f.note for f in findings})
                warn(f"{plural(len(findings), 'problem')} in {plural(notes, 'note')}")
            else:
                warn(f"no problems in {plural(index.note_count(), 'note')}")
        if findings:
            raise typer.Exit(1)


@app.command("index")
def build_index(
    ctx: typer.Context,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Throw the index away and parse every note again.")
    ] = False,
) -> None:
    """Build or update the vault's index now (other commands do it on demand).

    Also checks the database itself (SQLite's integrity checks, which other commands skip
    to stay fast) and rebuilds it if it is damaged; a database this run has just written
    whole is not checked again. Shows a progress bar on a terminal; uses all cores for a
    big vault.

    Example: aikb --vault ~/Obsidian/AI index --rebuild
    """
    import time

    with reporting():
        start = time.perf_counter()
        index = open_index(ctx, full=rebuild)
        if index.path is not None and not index.rebuilt:
            damage = index.damage()
            if damage:
                warn(f"the index {index.path} is damaged ({damage}); rebuilding it")
                index.close()
                index = open_index(ctx, rebuild=True)
        elapsed = time.perf_counter() - start
        count = plural(index.note_count(), "note")
        if index.path is None and not (ctx.obj or Options()).no_cache:
            from aikb.errors import CacheError

            raise CacheError(f"indexed {count} in memory only: the index could not be saved")
        where = str(index.path) if index.path else "memory"
        if index.updated:
            warn(f"indexed {count} in {elapsed:.2f} s ({where})")
        else:
            warn(f"index up to date: {count} ({where})")


@app.command()
def graph(
    ctx: typer.Context,
    term: Annotated[
        str | None,
        typer.Argument(
            metavar="[TERM]",
            help="Concept to center on; the whole vault without it.",
            autocompletion=complete_term,
        ),
    ] = None,
    depth: Annotated[int, typer.Option("--depth", "-d", min=0, help="Steps from TERM.")] = 1,
    output: Annotated[
        GraphFormat, typer.Option("--format", "-f", help="tree, json, dot or mermaid.")
    ] = GraphFormat.tree,
    no_pager: Annotated[bool, typer.Option("--no-pager", help="Never page the output.")] = False,
) -> None:
    """Show how concepts connect: links, backlinks and sections around TERM (or everything).

    Example: aikb graph "context window" --depth 2 --format mermaid
    """
    with reporting():
        from aikb import graphs

        index = open_index(ctx, preload=("aikb.render",))
        if term is None:
            result = graphs.vault_graph(index)
        else:
            result = graphs.local_graph(index, _looked_up(index, term).concept, depth)
        if output is GraphFormat.json:
            print_json(graphs.to_json(result))
        elif output is GraphFormat.dot:
            sys.stdout.write(graphs.to_dot(result) + "\n")
        elif output is GraphFormat.mermaid:
            sys.stdout.write(graphs.to_mermaid(result) + "\n")
        else:
            from aikb.render import graph_tree

            emit(graph_tree(result), no_pager)


@app.command()
def mentions(
    ctx: typer.Context,
    term: Annotated[
        str,
        typer.Argument(
            metavar="TERM", help="The concept whose mentions to find.", autocompletion=complete_term
        ),
    ],
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most N mentions.")] = 200,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print mentions as JSON (see README).")
    ] = False,
) -> None:
    """Find unlinked mentions: places in other notes that name the concept but do not link it.

    Word forms count (контекстного окна mentions контекстное окно); code, links and front
    matter do not. Exit status 1 when there is none.

    Example: aikb mentions "context window"
    """
    with reporting():
        from aikb.errors import NotFound
        from aikb.mentions import mentions as find_mentions

        index = open_index(ctx, preload=("aikb.render", "aikb.mentions", "markdown_it"))
        concept = _looked_up(index, term).concept
        result = find_mentions(index, concept, limit)
        if as_json:
            from aikb.render import mentions_json

            print_json(mentions_json(result))
        elif result:
            from aikb.render import mentions_report

            stdout().print(mentions_report(result))
        if not result:
            raise NotFound(f"no unlinked mentions of {concept.id!r}")


@app.command("open")
def open_in_editor(
    ctx: typer.Context,
    term: Annotated[
        str,
        typer.Argument(metavar="TERM", help="The concept to open.", autocompletion=complete_term),
    ],
    uri: Annotated[
        bool, typer.Option("--uri", help="Print the obsidian:// URI instead of opening an editor.")
    ] = False,
) -> None:
    """Open a concept's note at its line in $VISUAL or $EDITOR (or print its Obsidian URI).

    Example: EDITOR=vim aikb open "context window"
    """
    with reporting():
        from aikb.editor import editor_command, obsidian_uri
        from aikb.errors import UsageError

        index = open_index(ctx)
        concept = _looked_up(index, term).concept
        if uri:
            sys.stdout.write(obsidian_uri(index.root, concept.path) + "\n")
            return
        argv = editor_command(index.root / concept.path, concept.line)
        import subprocess

        try:
            code = subprocess.run(argv, check=False).returncode
        except OSError as exc:
            raise UsageError(f"cannot start the editor {argv[0]!r}: {exc.strerror}") from None
        if code:
            raise typer.Exit(code)


@app.command()
def browse(
    ctx: typer.Context,
    term: Annotated[
        str | None,
        typer.Argument(
            metavar="[TERM]", help="Concept to start on (optional).", autocompletion=complete_term
        ),
    ] = None,
) -> None:
    """Read the vault in a terminal UI: live search, rendered notes, links and backlinks.

    Keys: type to search, Enter follows, Backspace or Alt+Left goes back, / searches,
    o opens the editor, q quits.

    Example: aikb browse "context window"
    """
    import gc

    gc.enable()  # a session may run for hours: collect cycles again (see main)
    with reporting():
        index = open_index(ctx, threads=True)
        from aikb.browse import run_browse

        run_browse(index, term)


def main() -> None:
    """Console-script entry point: run the app; a closed pipe or Ctrl-C ends quietly.

    If the cache database turns out to be damaged while a command reads it (a damaged
    page is only found when read), it is deleted and the command runs once more on a
    rebuilt index, with one warning. Output that cannot be written (a full disk) is one
    line on stderr and exit code 2; a stdout or stderr closed from the start (``>&-``)
    discards what would go there.

    Python's cyclic garbage collector is off while a command runs (``browse`` turns it
    back on) and every object is frozen before exit: a command lives for a fraction of
    a second, and the collections, mostly the one at interpreter exit, which walks every
    object the imported modules made, took about 100 ms of a warm ``aikb show`` (0.53 s
    down to 0.43 s, median of 15, 10,000-note vault). Nothing is left uncollected that
    matters: memory is given back at exit anyway.
    """
    import gc

    gc.disable()
    try:
        _main()
    finally:
        gc.freeze()  # the collection at exit skips frozen objects


def _main() -> None:
    """:func:`main` without its garbage-collector settings."""
    import sqlite3

    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:  # Python's value for a stream closed at start
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 (for life)
    try:
        try:
            app(prog_name="aikb", standalone_mode=True)
        except sqlite3.DatabaseError as exc:
            path = _OPENED.pop("database", None)
            if path is None:
                raise
            from aikb.index import CacheUnavailable, remove_database

            try:
                remove_database(path)
            except CacheUnavailable as cannot:
                warn(f"the index {path} is damaged ({exc}) and {cannot}; try --no-cache")
                sys.exit(2)
            warn(f"the index {path} is damaged ({exc}); rebuilding it")
            try:
                app(prog_name="aikb")
            except sqlite3.DatabaseError as again:
                warn(f"the index is unusable ({again}); try again with --no-cache")
                sys.exit(2)
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        sys.exit(130)
    except BrokenPipeError:
        # stdout was closed early (| head): nothing more to say, and say nothing.
        _discard_stdout()
        sys.exit(0)
    except OSError as exc:
        if exc.filename is not None or exc.errno not in _WRITE_ERRORS:
            raise
        _discard_stdout()  # what is still buffered would fail again at exit
        warn(f"cannot write the output: {exc.strerror or exc}")
        sys.exit(2)


_WRITE_ERRORS = {errno.ENOSPC, errno.EIO, errno.EFBIG, errno.EDQUOT, errno.EBADF}
"""Errors of writing to stdout (a full disk, a failing device, a closed descriptor)."""


def _discard_stdout() -> None:
    """Point stdout at the null device, so nothing buffered is written (or fails) at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
