"""Finding concepts: exact lookup for ``show``, ranked fuzzy + full-text search.

Scores are 0-100. Ranking tiers, highest first: an exact name or alias (100); a strong
fuzzy match on a name, alias or heading (75-99); body text and weak name matches (below
75). So a name match always ranks above a match in the text.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from aikb.errors import NotFound, UsageError
from aikb.index import Index
from aikb.model import Concept, Link
from aikb.normalize import collapse, drop_title_heading, name_key, strip_escapes
from aikb.syntax import split_wikilink
from aikb.terms import HAS_CJK, stem, stems, swap_layout, words

STRONG = 85.0
"""A fuzzy name score at or above this is a strong (name-tier) match."""
CLEAR_MARGIN = 4.0
"""``show`` accepts a fuzzy match only if it beats the runner-up concept by this much."""
SNIPPET_WIDTH = 160
WEAK = 60.0
"""Below this, the best hit is a weak fuzzy guess: a keyboard-layout swap may do better."""
PREFIX_SCORE = 86.0
"""Fuzzy score of a name the query is the beginning of (more as it gets longer)."""
MAX_OTHERS = 5
"""At most this many other concepts sharing a name are listed by ``show``."""


class Lookup(NamedTuple):
    """The concept ``show`` settled on, how, and the other exact matches it passed over.

    ``how`` is ``id``, ``link``, ``name`` or ``fuzzy``; ``matched`` the name that matched;
    ``others`` are up to :data:`MAX_OTHERS` other concepts with that name, ``more`` how
    many beyond those. ``missing`` is set (``missing heading`` or ``missing block``) when
    the term was a link whose note exists but whose heading or block does not: the
    concept is then that note, which Obsidian opens for such a link.
    """

    concept: Concept
    how: str
    matched: str
    others: tuple[Concept, ...] = ()
    score: float = 100.0
    more: int = 0
    missing: str = ""


class Hit:
    """One search result. ``matched`` is ``name``, ``alias``, ``heading`` or ``text``;
    ``spans`` are (start, end) offsets of the words to highlight in ``snippet``."""

    __slots__ = ("concept", "matched", "score", "snippet", "spans")

    def __init__(self, concept: Concept, score: float, matched: str) -> None:
        self.concept = concept
        self.score = score
        self.matched = matched
        self.snippet = ""
        self.spans: list[tuple[int, int]] = []


def is_title_heading(concept: Concept) -> bool:
    """True for an H1 that only repeats its note's name (``# Context window`` in
    ``Context window.md``): for lookup and search it is the note itself."""
    return concept.level == 1 and name_key(concept.title) == name_key(
        concept.note.rpartition("/")[2]
    )


def concept_order(concept: Concept) -> tuple[int, int, str, int]:
    """Order among concepts sharing a name: notes first, then higher headings, then file order."""
    return (0 if concept.is_note else 1, concept.level, concept.path.casefold(), concept.line)


def _as_link(term: str) -> tuple[str, bool]:
    text = term.strip()
    bracketed = False
    if text.startswith("!"):
        text = text[1:]
    if text.startswith("[[") and text.endswith("]]"):
        text, bracketed = text[2:-2], True
    return text, bracketed


def lookup(index: Index, term: str) -> Lookup:
    """Find the one concept a term names, in the order ``show`` documents.

    1. an exact concept id (``AI-flow#Fine-tuning (flow)``) or wikilink text
       (``[[AI-flow#Fine-tuning (flow)]]``, ``Note#heading`` resolved as Obsidian would;
       a heading or block the note lacks gives the note, see :attr:`Lookup.missing`);
    2. an exact name or alias (case-insensitive, ``ё`` = ``е``); several: the note first,
       then higher headings;
    3. the best fuzzy match, if it is a clear winner.

    Raises :class:`~aikb.errors.NotFound` with up to 5 suggestions otherwise.
    """
    text, bracketed = _as_link(term)
    if not text.strip():
        raise UsageError("empty term; give a note name, alias or heading")
    found = index.concept_by_key(strip_escapes(text).strip())
    if found:
        others, more = _same_name(index, name_key(text), found)
        return Lookup(found, "id", found.id, others, more=more)
    note, headings, block, _ = split_wikilink(text)
    if bracketed or (("#" in text) and note):
        catalog = index.catalog()
        result = catalog.resolve(Link("wikilink", note, headings, block), "")
        if result.concept:
            concept = index.concept(result.concept)
            if concept:
                return Lookup(concept, "link", text, missing=result.reason or "")
    key = name_key(text)
    exact = index.by_name(key, limit=1)
    if exact:
        chosen, matched, _ = exact[0]
        others, more = _same_name(index, key, chosen)
        return Lookup(chosen, "name", matched, others, more=more)
    ranked = fuzzy_names(index, text, limit=40)
    if ranked:
        best_id, best_score, best_name, _ = ranked[0]
        # Concepts sharing the best name (a note, its title heading, a hub section with
        # that alias) are one candidate, settled as an exact name would be.
        best_key = name_key(best_name)
        rivals = [score for _, score, name, _ in ranked[1:] if name_key(name) != best_key]
        runner_up = rivals[0] if rivals else 0.0
        if best_score >= STRONG and best_score - runner_up >= CLEAR_MARGIN:
            named = index.by_name(best_key, limit=1)
            concept = named[0][0] if named else index.concept(best_id)
            if concept:
                others, more = _same_name(index, best_key, concept)
                return Lookup(concept, "fuzzy", best_name, others, more=more, score=best_score)
    suggestions: list[str] = []
    for cid, score, _, _ in ranked:
        if score < 50 or len(suggestions) >= 5:
            break
        concept = index.concept(cid)
        if concept:
            suggestions.append(concept.id)
    if len(suggestions) < 5:
        for cid, _ in index.fulltext(stems(text), limit=5):
            if cid not in suggestions and len(suggestions) < 5:
                suggestions.append(cid)
    raise NotFound(f"no concept named {term!r}", suggestions)


def _same_name(index: Index, key: str, chosen: Concept) -> tuple[tuple[Concept, ...], int]:
    """Other concepts with the name key ``key`` (up to :data:`MAX_OTHERS`, notes first),
    and how many more there are. A title heading of a note that is listed is left out:
    ``# Context window`` in ``Context window.md`` is that note."""
    found = [c for c, _, _ in index.by_name(key, limit=MAX_OTHERS + 3) if c.id != chosen.id]
    distinct = list({c.id: c for c in found}.values())
    notes = {c.note for c in (*distinct, chosen) if c.is_note}
    others = [c for c in distinct if not (is_title_heading(c) and c.note in notes)]
    total = max(index.name_count(key) - 1, 0) if key else 0
    hidden = len(distinct) - len(others)
    return tuple(others[:MAX_OTHERS]), max(total - hidden - min(len(others), MAX_OTHERS), 0)


def fuzzy_names(index: Index, query: str, limit: int = 20) -> list[tuple[str, float, str, str]]:
    """Concepts whose names are closest to ``query``: ``(concept id, score, name, kind)``,
    best first, one entry per concept.

    A name's score (0-100) is the best of plain edit-distance similarity (tolerates
    typos: ``contxt windw``), a word-order-insensitive match discounted by 10% (a query
    that is one word of a longer name still scores, but below a name it equals), the best
    matching part of a longer name discounted by 15% (``windw`` in ``context window``;
    never a shorter name inside the query),
    and a prefix match (``emb`` for ``embeddings``: 86 and up with the share typed).
    Both run in rapidfuzz's C code over the distinct name keys.
    """
    from rapidfuzz import fuzz, process

    key = name_key(query)
    if not key:
        return []
    keys = index.name_keys()
    wanted = max(limit * 2, 20)
    scores: dict[str, float] = {}
    for name, score, _ in process.extract(
        key, keys, scorer=fuzz.ratio, limit=wanted, score_cutoff=40
    ):
        scores[name] = float(score)
    if len(key) >= 3:
        for name, score, _ in process.extract(
            key, keys, scorer=fuzz.token_set_ratio, limit=wanted, score_cutoff=45
        ):
            scores[name] = max(scores.get(name, 0.0), float(score) * 0.9)
    if len(key) >= 4:
        # A typo in one word of a longer name: "windw" in "context window". Only in a
        # name at least as long as the query: the other way round, a short name inside
        # the query ("tab" in "create a table") would match on a fragment of one word.
        for name, score, _ in process.extract(
            key, keys, scorer=fuzz.partial_ratio, limit=wanted, score_cutoff=70
        ):
            if len(name) >= len(key):
                scores[name] = max(scores.get(name, 0.0), float(score) * 0.85)
    if len(key) >= 2:
        # Typing the start of a name (as in the browser's live search) is a strong match.
        for name in index.name_keys_starting(key, limit=wanted):
            prefix = PREFIX_SCORE + (99.0 - PREFIX_SCORE) * len(key) / max(len(name), 1)
            scores[name] = max(scores.get(name, 0.0), min(prefix, 99.0))
    out: list[tuple[str, float, str, str]] = []
    seen: set[str] = set()
    for name_key_, score in sorted(scores.items(), key=lambda item: (-item[1], item[0])):
        for concept, written, kind in index.by_name(name_key_, limit=3):
            if concept.id not in seen:
                seen.add(concept.id)
                out.append((concept.id, score, written, "name" if kind == "name" else kind))
        if len(out) >= limit:
            break
    return out[:limit]


def search(index: Index, query: str, limit: int = 10) -> list[Hit]:
    """Ranked concepts for a query, each with where it matched and a snippet.

    Names, aliases and headings are matched fuzzily (typos allowed), text with the
    full-text index (word forms of Russian and English). If nothing matches and the
    query looks typed in the wrong keyboard layout (``rjyntrcn``), the swapped query is
    searched too, and wins if it does better (only weak fuzzy hits, below :data:`WEAK`,
    count as nothing). Returns at most ``limit`` hits, best first.
    """
    hits = _search(index, query, limit)
    best = hits[0].score if hits else 0.0
    if best < WEAK:
        swapped = swap_layout(query)
        if swapped:
            other = _search(index, swapped, limit)
            if other and other[0].score > best:
                hits = other
    return hits


def _search(index: Index, query: str, limit: int) -> list[Hit]:
    key = name_key(query)
    if not key:
        return []
    scored: dict[str, Hit] = {}

    def offer(concept_id: str, score: float, matched: str) -> None:
        current = scored.get(concept_id)
        if current is None:
            concept = index.concept(concept_id)
            if concept is None:
                return
            if is_title_heading(concept):  # the note's own title: one result, the note
                offer(concept.note, score, matched)
                return
            scored[concept_id] = Hit(concept, score, matched)
        elif score > current.score:
            current.score, current.matched = score, matched

    for concept, _, kind in index.by_name(key, limit=limit * 2):
        offer(concept.id, 100.0 if kind != "heading" else 99.5, "name" if kind == "name" else kind)
    look_alike: list[tuple[str, float, str]] = []
    for cid, score, _, kind in fuzzy_names(index, query, limit=max(limit * 2, 20)):
        if score >= STRONG:
            offer(cid, 75.0 + (score - STRONG) / (100.0 - STRONG) * 24.0, kind)
        elif score >= WEAK:
            look_alike.append((cid, score, kind))
    query_stems = stems(query)
    wanted = set(query_stems)
    found = index.fulltext(query_stems, limit=max(limit * 3, 30))
    if not found and len(wanted) > 1:
        found = index.fulltext(query_stems, limit=max(limit * 3, 30), any_term=True)
    if found:
        # Scale text scores to the best text-only hit: a concept already found by its name
        # weighs its name 10x in bm25 and would push every other text hit to the bottom.
        named = {cid for cid, hit in scored.items() if hit.score >= 75}

        def shown_as(concept_id: str) -> str:  # a note's title heading is shown as the note
            concept = index.concept(concept_id)
            return concept.note if concept is not None and is_title_heading(concept) else concept_id

        rest = [score for cid, score in found if shown_as(cid) not in named]
        top = max(rest or [score for _, score in found]) or 1.0
        for cid, score in found:
            text_score = 30.0 + 40.0 * min(score / top, 1.0)
            current = scored.get(cid)
            if current is None:
                shown = index.concept(shown_as(cid))
                offer(cid, text_score, _text_hit_place(shown, wanted) if shown else "text")
            elif current.score >= 75:
                # A name match whose text matches too: a small boost, never past an exact name.
                current.score = max(current.score, min(99.0, current.score + 5.0))
            else:
                current.score = max(current.score, text_score)
    for cid, score, kind in look_alike:
        # A name that only looks somewhat like the query ranks below any text holding
        # its words (text scores start at 30), and as before when no text does.
        offer(cid, 20.0 + (score - WEAK) / (STRONG - WEAK) * 10.0 if found else score * 0.7, kind)
    hits = sorted(scored.values(), key=lambda h: (-h.score, concept_order(h.concept)))[:limit]
    for hit in hits:
        hit.score = round(hit.score, 1)
        own = index.own_text(hit.concept.id)
        if hit.concept.is_note:
            own = drop_title_heading(own, hit.concept.title)
            if not own.strip():  # "# Title" on line 1: the text is under that heading
                heading = next(iter(index.children(hit.concept)), None)
                if heading is not None and is_title_heading(heading):
                    own = index.own_text(heading.id)
        hit.snippet, hit.spans = snippet(own, wanted)
    return hits


_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_WIKILINK = re.compile(r"(!?)\[\[([^\]|]*?)(?:\\?\|([^\]]*))?\]\]")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_FOOTNOTE = re.compile(r"\[\^[^\]\s]+\]:?")
_MARKS = re.compile(r"(?<!\\)(\*\*|__|~~|==|`)")
_EMPHASIS = re.compile(
    r"(?<![\w*\\])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])|(?<![\w\\])_(?=\S)(.+?)(?<=\S)_(?!\w)"
)
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+", re.MULTILINE)
_QUOTE = re.compile(r"^\s{0,3}(?:>\s?)+(?:\[![^\]]*\][+-]?\s?)?", re.MULTILINE)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])\s+(?:\[.\]\s+)?", re.MULTILINE)
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)+\|?\s*$", re.MULTILINE)
_TABLE_EDGE = re.compile(r"^\s*\||\|\s*$", re.MULTILINE)
_BLOCK_ID = re.compile(r"\s\^[A-Za-z0-9-]+\s*$", re.MULTILINE)
_FENCE = re.compile(r"[ \t]*(?:>[ \t]*)*(`{3,}|~{3,})")
_CODE_OR_COMMENT = re.compile(
    r"(?<![\\`])(`+)(.+?)(?<!`)\1(?!`)|%%.*?(?:%%|\Z)|<!--.*?(?:-->|\Z)", re.DOTALL
)
_ATTACHMENT = re.compile(r"\.(?!md$)[A-Za-z0-9]{1,5}$", re.IGNORECASE)
_KEPT = re.compile("\ue000([0-9]+)\ue001")
"""Where :func:`plain_text` set code aside (private-use characters around its number)."""


def _link_words(match: re.Match[str]) -> str:
    """A wikilink as a reader sees it: its label, else ``Note › Heading``; nothing for an
    embedded picture or other attachment."""
    embed, target, label = match.groups()
    if embed and _ATTACHMENT.search(target.partition("#")[0].strip()):
        return " "
    if label:
        return label.strip()
    return " › ".join(part.strip() for part in target.split("#") if part.strip())


def plain_text(markdown: str) -> str:
    """Markdown reduced to readable text for snippets, whitespace collapsed: links become
    their labels; markup (emphasis, headings, quotes, callout types, list markers, table
    rules and edges, block ids, footnote marks, HTML tags), comments and embedded
    pictures are dropped; a comment left open (``%%`` or ``<!--``) hides the rest, as it
    does in Obsidian. Code is kept as written, without its backticks or fences, and
    nothing in it is markup (a ``%%`` in a code span starts no comment): fenced code is
    set aside first, then code spans and comments, whichever comes first from the left,
    as a Markdown parser finds them; an escaped backtick starts no code span.
    """
    code: list[str] = []

    def set_aside(kept: str) -> str:
        code.append(kept)
        return f"\ue000{len(code) - 1}\ue001"

    lines: list[str] = []
    fence = ""
    container = re.compile("")  # the quote markers before a fence, on each of its lines
    for line in markdown.replace("\ue000", "").replace("\ue001", "").split("\n"):
        opening = _FENCE.match(line)
        marker, rest = (opening.group(1), line[opening.end() :]) if opening else ("", line)
        if fence:
            if marker[:1] == fence[0] and len(marker) >= len(fence) and not rest.strip():
                fence = ""
            else:
                lines.append(set_aside(container.sub("", line, count=1)))
        elif opening and marker and not (marker[0] == "`" and "`" in rest):
            fence = marker  # an info string ("python") is no text
            quotes = line[: opening.start(1)].count(">")
            container = re.compile(r"[ \t]*" + r">[ \t]?" * quotes)
        else:
            lines.append(line)
    text = _CODE_OR_COMMENT.sub(
        lambda found: set_aside(found.group(2)) if found.group(1) else " ", "\n".join(lines)
    )
    text = _WIKILINK.sub(_link_words, text)
    text = _MD_LINK.sub(r"\1", text)
    text = _FOOTNOTE.sub(" ", text)
    text = _HTML_TAG.sub("", text)
    text = _HEADING.sub("", text)
    text = _QUOTE.sub("", text)
    text = _LIST_ITEM.sub("", text)
    text = _TABLE_RULE.sub("", text)
    text = _TABLE_EDGE.sub("", text).replace(" | ", " · ")
    text = _BLOCK_ID.sub("", text)
    text = _EMPHASIS.sub(lambda found: found.group(1) or found.group(2), _MARKS.sub("", text))
    text = strip_escapes(text)

    def restore(found: re.Match[str]) -> str:  # code set aside inside a code span too
        number = int(found.group(1))
        return _KEPT.sub(restore, code[number]) if number < len(code) else found.group()

    return collapse(_KEPT.sub(restore, text))


def snippet(
    markdown: str, wanted: set[str], width: int = SNIPPET_WIDTH
) -> tuple[str, list[tuple[int, int]]]:
    """A window of ``width`` characters of the text around the first word whose stem starts
    with one in ``wanted`` (as the full-text index matches: ``quokka`` finds
    ``quokkafied``), and the spans of every such word in it. Without a match: the text's
    start."""
    text = plain_text(markdown)
    matches = _found_words(text, wanted)
    start = 0
    if matches and matches[0][0] > width // 3:
        start = matches[0][0] - width // 3
        space = text.rfind(" ", 0, start)
        start = space + 1 if space >= 0 and start - space < 20 else start
    window = text[start : start + width]
    cut = len(window) < len(text) - start
    if cut and " " in window[width // 2 :]:
        window = window[: window.rfind(" ")]
    prefix = "…" if start > 0 else ""
    suffix = "…" if cut else ""
    shift = len(prefix) - start
    spans = [(s + shift, e + shift) for s, e in matches if s >= start and e <= start + len(window)]
    return prefix + window + suffix, spans


def _found_words(text: str, wanted: set[str]) -> list[tuple[int, int]]:
    """Spans of the words of ``text`` that the full-text index matches for the query stems
    ``wanted``: words whose stem starts with one of them (``quokka`` finds
    ``quokkafied``), and Chinese or Japanese character pairs found inside longer runs."""
    prefixes = tuple(wanted)
    matches = [
        (m.start(), m.end())
        for m in re.finditer(r"\w+", text)
        if prefixes and stem(m.group().casefold().replace("ё", "е")).startswith(prefixes)
    ]
    pairs = [w for w in wanted if HAS_CJK.search(w)]
    if pairs:  # CJK words are character pairs inside longer runs: find them as text
        matches = _merge(
            matches + [m.span() for w in pairs for m in re.finditer(re.escape(w), text)]
        )
    return matches


def _text_hit_place(concept: Concept, wanted: set[str]) -> str:
    """Where a full-text hit's words are, as ``Hit.matched`` says it: in the title of a
    note (``name``) or a section (``heading``), in an alias (``alias``), else ``text``."""
    if _found_words(concept.title, wanted):
        return "name" if concept.is_note else "heading"
    if any(_found_words(alias, wanted) for alias in concept.aliases):
        return "alias"
    return "text"


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted spans with overlapping or touching ones joined."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


__all__ = [
    "Hit",
    "Lookup",
    "fuzzy_names",
    "lookup",
    "plain_text",
    "search",
    "snippet",
    "words",
]
