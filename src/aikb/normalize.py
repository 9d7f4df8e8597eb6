"""String keys used to compare names, headings and paths, and terminal-safe text.

Each key function documents which comparison it models. They are pure and cheap; the
index stores their results so lookups are plain equality queries.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# CommonMark: a backslash before ASCII punctuation escapes it.
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
# C0 controls except TAB and LF, DEL, and the C1 block.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_LINE_BREAKS = re.compile("[\n\t\u2028\u2029]")


def nfc(text: str) -> str:
    """Unicode NFC, so names typed on macOS (NFD file names) compare equal to the rest."""
    return unicodedata.normalize("NFC", text)


def normalize_text(text: str) -> str:
    """Strip a UTF-8 byte order mark, turn CRLF and lone CR line ends into LF, and compose
    to Unicode NFC (macOS editors may write NFD), so titles and ids compare as typed."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return text


def strip_escapes(text: str) -> str:
    r"""Remove CommonMark backslash escapes: ``\*  A`` becomes ``*  A``."""
    return _ESCAPE.sub(r"\1", text)


def collapse(text: str) -> str:
    """Collapse runs of whitespace to one space and trim the ends (whitespace as
    ``str.isspace`` knows it, the same set as the regex ``\\s``; ``split`` is ~4x faster)."""
    return " ".join(text.split())


def name_key(text: str) -> str:
    """Key for looking a term up by name or alias, as a person types it.

    NFC, Unicode case folding, ``ё`` folded to ``е`` (Russian writers use them
    interchangeably), whitespace collapsed. Punctuation is kept, so ``C``, ``C++`` and
    ``C#`` stay three different names.
    """
    return collapse(nfc(text).casefold().replace("ё", "е"))


@lru_cache(maxsize=1 << 16)
def link_key(text: str) -> str:
    """Key for the note part of a link: Obsidian compares link paths case-insensitively.

    NFC, lower case (Obsidian lowercases, it does not case-fold), backslashes turned into
    slashes, surrounding whitespace trimmed. ``ё`` is not folded: Obsidian would not.
    """
    return nfc(text).strip().replace("\\", "/").lower()


@lru_cache(maxsize=1 << 16)
def heading_text_key(text: str) -> str:
    """Key for the exact-text pass of heading matching: escapes removed, case and spaces ignored."""
    return collapse(nfc(strip_escapes(text)).lower())


@lru_cache(maxsize=1 << 16)
def heading_key(text: str) -> str:
    """Key for the loose pass of heading matching, after Obsidian's heading normalization.

    Obsidian writes a heading link with ``# | ^ : %% [[ ]]`` replaced by spaces and matches
    headings while ignoring the remaining punctuation too, so ``[[Net#TCP IP basics]]``
    reaches ``## TCP/IP Basics`` and ``[[#Ratio Speed & Cost]]`` reaches ``## Ratio: Speed
    & Cost``. This key keeps letters, digits and combining marks of every script, turns
    everything else into a space, collapses spaces and lowercases.
    """
    text = nfc(strip_escapes(text)).lower()
    out = [ch if unicodedata.category(ch)[0] in "LNM" else " " for ch in text]
    return collapse("".join(out))


_TITLE_LINE = re.compile(r"^ {0,3}#[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")


def drop_title_heading(markdown: str, title: str) -> str:
    """A note's Markdown without its first line when that line is ``# Title`` repeating the
    note's name (ignoring case and escapes): the heading says nothing the title does not."""
    first, _, rest = markdown.lstrip("\n").partition("\n")
    match = _TITLE_LINE.match(first)
    if match and name_key(strip_escapes(match.group(1))) == name_key(title):
        return rest
    return markdown


def sanitize(text: str) -> str:
    """Make note text safe for a terminal: control characters become visible placeholders.

    C0 controls (except tab and newline) and DEL become their Unicode "control picture"
    (ESC -> U+241B), C1 controls become U+FFFD; nothing a note contains can move the
    cursor, change colours, set the window title or ring the bell. Bidirectional
    override and isolate controls (which can make ``gnp.exe`` display as ``exe.png``) and
    lone surrogates (undecodable file names) become U+FFFD too.
    """
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(_picture, text)


def sanitize_line(text: str) -> str:
    """:func:`sanitize` for text that must stay on one line (names, paths, titles):
    newlines, Unicode's line and paragraph separators (which ``str.splitlines`` and many
    viewers break at) and tabs become visible too (U+2424, U+2409)."""
    text = sanitize(text)
    if _LINE_BREAKS.search(text):
        text = _LINE_BREAKS.sub(lambda m: "\u2409" if m.group() == "\t" else "\u2424", text)
    return text


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)
    if code == 0x7F:
        return "\u2421"
    return "\ufffd"
