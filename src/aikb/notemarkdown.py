"""The note body renderable: rich's Markdown, fed with aikb's Obsidian-aware tokens.

Kept apart from :mod:`aikb.render` because importing rich's Markdown (and Pygments with
it) costs tens of milliseconds that ``search``, ``list``, ``check`` and ``graph`` never
need; see :mod:`aikb.render` for what the token rewrite does.
"""

from __future__ import annotations

from typing import Any

from rich.markdown import Markdown

from aikb.render import RenderContext, rewrite


class NoteMarkdown(Markdown):
    """rich's Markdown renderable, parsed by aikb's Obsidian-aware parser (see module doc)."""

    inlines = {  # noqa: RUF012 - rich declares it as a plain class attribute
        "em",
        "strong",
        "code",
        "s",
        "wikilink",
        "wikilink_broken",
        "hashtag",
        "embed",
        "math",
        "mark",
        "footnote",
    }

    def __init__(self, markup: str, context: RenderContext | None = None, **options: Any) -> None:
        super().__init__("", **options)
        from aikb.syntax import parser

        self.markup = markup
        self.context = context or RenderContext()
        self.parsed = rewrite(parser().parse(markup), self.context)
