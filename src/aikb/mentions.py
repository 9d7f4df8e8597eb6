"""``aikb mentions``: unlinked mentions, as in Obsidian's backlinks pane.

A mention is a place in another note where one of a concept's names or aliases appears
as whole words but is not a link; for a heading's concept, the rest of its own note
counts too (a vault of one big note, each heading a concept, has mentions between
sections), its own section (subsections included) does not. Words are compared by their
Snowball stems, so word forms count (``контекстного окна`` mentions ``контекстное окно``,
``models`` mentions ``model``); a name with Chinese or Japanese characters is found as
written, inside runs of text without spaces. Text inside code, math, comments, links
(wikilinks and Markdown links, labels included), tags and front matter is never a
mention. The full-text index narrows the notes to read; only those are parsed.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from aikb.index import Index
from aikb.model import Concept
from aikb.terms import HAS_CJK, stem, stems

_WORD = re.compile(r"\w+")
MIN_NAME = 3
"""Names shorter than this many characters are not searched for (``C``, ``AI``)."""
MIN_CJK_NAME = 2
"""The same for names with Chinese or Japanese characters (``漏桶`` is one word)."""
MAX_LINE = 2000
"""Source lines up to this long are a mention's snippet; past it, only the text run."""
_SKIP = frozenset(
    {
        "code_inline",
        "wikilink",
        "tag",
        "comment",
        "math_inline",
        "math_inline_double",
        "html_inline",
        "image",
    }
)


class Mention(NamedTuple):
    """One unlinked mention: the note path and id, the 1-based line, the concept holding
    it, the name it matches, the text it was found in and the span of the match there."""

    path: str
    note: str
    line: int
    source: str
    name: str
    text: str
    start: int
    end: int


def _stems(text: str) -> list[tuple[str, int, int]]:
    return [
        (stem(m.group().casefold().replace("ё", "е")), m.start(), m.end())
        for m in _WORD.finditer(text)
    ]


def mentions(index: Index, concept: Concept, limit: int = 200) -> list[Mention]:
    """Unlinked mentions of ``concept`` by path and line (at most ``limit``): in other
    notes, and for a section also in its note outside the section's own lines."""
    from aikb.syntax import parser

    names: dict[tuple[str, ...], str] = {}
    runs: dict[str, re.Pattern[str]] = {}  # names with Chinese or Japanese: matched as text
    for name in (concept.title, *concept.names, *concept.aliases):
        name = name.strip()
        if HAS_CJK.search(name):
            if len(name) >= MIN_CJK_NAME:
                runs.setdefault(name, re.compile(re.escape(name), re.IGNORECASE))
            continue
        words = tuple(s for s, _, _ in _stems(name))
        if words and len(name) >= MIN_NAME and words not in names:
            names[words] = name
    if not names and not runs:
        return []
    candidates: dict[str, None] = {}
    lookups = [list(words) for words in names] + [stems(name) for name in runs]
    for words_ in lookups:
        for concept_id, _ in index.fulltext(words_, limit=5000):
            found = index.concept(concept_id)
            if found is not None and (found.note != concept.note or not concept.is_note):
                candidates[found.note] = None
    out: list[Mention] = []
    md = parser()
    for note in sorted(candidates, key=str.casefold):
        lines = index.file_lines(note)
        holder = index.concept(note)
        if holder is None:
            continue
        body_line = index.body_line(note)
        body = "\n".join(lines[body_line - 1 :])
        sections = index.note_concepts(note)
        own = range(concept.line, concept.end_line + 1) if note == concept.note else range(0)
        for token in md.parse(body):
            if token.type != "inline" or token.map is None:
                continue
            line = token.map[0] + body_line
            if line in own:
                continue
            cursor: dict[int, int] = {}  # line -> where the next text may start in it
            skip_until: str | None = None
            for child in token.children or ():
                kind = child.type
                if kind in ("softbreak", "hardbreak"):
                    line += 1
                    continue
                if skip_until is not None:
                    if kind == skip_until:
                        skip_until = None
                    line += child.content.count("\n")
                    continue
                if kind == "link_open":
                    skip_until = "link_close"
                    continue
                if kind in _SKIP:
                    line += child.content.count("\n")
                    continue
                if kind != "text" or not child.content:
                    continue
                spans = _find(child.content, names)
                if runs:
                    spans = _with_runs(spans, child.content, runs)
                if not spans:
                    continue
                # Show the whole source line when the text is found in it as written (no
                # escapes or entities resolved), so the link next to a mention shows too.
                raw = lines[line - 1] if 0 < line <= len(lines) else ""
                at = raw.find(child.content, cursor.get(line, 0)) if len(raw) <= MAX_LINE else -1
                snippet, shift = (raw, at) if at >= 0 else (child.content, 0)
                if at >= 0:
                    cursor[line] = at + len(child.content)
                for match_start, match_end, name in spans:
                    source = _holder(sections, line)
                    out.append(
                        Mention(
                            holder.path,
                            note,
                            line,
                            source,
                            name,
                            snippet,
                            match_start + shift,
                            match_end + shift,
                        )
                    )
                    if len(out) >= limit:
                        return out
    return out


def _find(text: str, names: dict[tuple[str, ...], str]) -> list[tuple[int, int, str]]:
    """Spans of ``text`` whose word stems equal one of the names' (longest name first)."""
    words = _stems(text)
    found: list[tuple[int, int, str]] = []
    position = 0
    ordered = sorted(names.items(), key=lambda item: -len(item[0]))
    while position < len(words):
        for wanted, name in ordered:
            size = len(wanted)
            if tuple(w for w, _, _ in words[position : position + size]) == wanted:
                found.append((words[position][1], words[position + size - 1][2], name))
                position += size
                break
        else:
            position += 1
    return found


def _with_runs(
    spans: list[tuple[int, int, str]], text: str, runs: dict[str, re.Pattern[str]]
) -> list[tuple[int, int, str]]:
    """``spans`` plus every place a Chinese or Japanese name occurs in ``text`` as written
    (such text has no spaces between words), overlaps dropped, in order."""
    found = list(spans)
    for name, pattern in sorted(runs.items(), key=lambda item: -len(item[0])):
        for match in pattern.finditer(text):
            start, end = match.span()
            if all(end <= a or start >= b for a, b, _ in found):
                found.append((start, end, name))
    return sorted(found)


def _holder(sections: list[Concept], line: int) -> str:
    """The id of the innermost concept of a note holding ``line``."""
    holder = sections[0].id if sections else ""
    for concept in sections[1:]:
        if concept.line <= line:
            holder = concept.id
    return holder
