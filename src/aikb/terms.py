"""Words for full-text search: tokenizing, Russian and English stemming, keyboard layouts.

The same :func:`stems` runs over indexed text and over queries, so ``окна``, ``окном``
and ``окно`` meet at one stem, as do ``models``, ``modeling`` and ``model``. Stemming is
Snowball's (``snowballstemmer``, which uses the C ``PyStemmer`` when it is installed);
words in Cyrillic get the Russian stemmer, others the English one. ``ё`` is folded to
``е`` first.

Chinese and Japanese do not put spaces between words, so a run of their characters is
split into overlapping pairs (bigrams, the usual way to index CJK text without a
dictionary): see :func:`segment`.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Protocol

_WORD = re.compile(r"[^\W_]+")
_CJK = (
    "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
    "\U00020000-\U0003134f"
)
"""Kana and Han ideographs (Hangul is left out: Korean separates words with spaces)."""
_CJK_RUN = re.compile(f"[{_CJK}]{{2,}}")
HAS_CJK = re.compile(f"[{_CJK}]")
_CYRILLIC = re.compile(r"[а-яё]")
MAX_WORD = 40


class _Stemmer(Protocol):
    def stemWord(self, word: str) -> str: ...


@cache
def _stemmers() -> tuple[_Stemmer, _Stemmer]:
    import snowballstemmer

    return snowballstemmer.stemmer("russian"), snowballstemmer.stemmer("english")


_STEM_CACHE: dict[str, str] = {}


def stem(word: str) -> str:
    """Stem one lower-case word with the Russian or English Snowball stemmer (memoized)."""
    found = _STEM_CACHE.get(word)
    if found is None:
        russian, english = _stemmers()
        chosen = russian if _CYRILLIC.search(word) else english
        found = chosen.stemWord(word) if len(word) <= MAX_WORD else word
        if len(_STEM_CACHE) < 500_000:
            _STEM_CACHE[word] = found
    return found


def segment(text: str, query: bool = False) -> str:
    """``text`` with every run of Chinese or Japanese characters split into words SQLite's
    tokenizer will see: the run's overlapping character pairs, and, for indexed text
    (not a ``query``), its last character alone. ``令牌桶`` is indexed as ``令牌 牌桶 桶``;
    a query ``漏桶`` looks for the pair ``漏桶``, a longer query for all of its pairs, and
    a one-character query for the pairs it starts (or the run it ends), so any substring
    of a run can be found. Other text is returned unchanged.
    """
    if text.isascii():
        return text

    def pairs(match: re.Match[str]) -> str:
        run = match.group()
        split = [run[i : i + 2] for i in range(len(run) - 1)]
        return " " + " ".join(split if query else [*split, run[-1]]) + " "

    return _CJK_RUN.sub(pairs, text)


def words(text: str) -> list[str]:
    """Lower-case words of a query (runs of letters and digits, as SQLite's unicode61
    tokenizer splits them; CJK runs as pairs, see :func:`segment`), ``ё`` folded to ``е``."""
    return _WORD.findall(segment(text.casefold().replace("ё", "е"), query=True))


def stems(text: str) -> list[str]:
    """The stems of every word in ``text``, in order."""
    return [stem(w) for w in words(text)]


_LATIN = "`qwertyuiop[]asdfghjkl;'zxcvbnm,.~QWERTYUIOP{}ASDFGHJKL:\"ZXCVBNM<>"
_RUSSIAN = "ёйцукенгшщзхъфывапролджэячсмитьбюЁЙЦУКЕНГШЩЗХЪФЫВАПРОЛДЖЭЯЧСМИТЬБЮ"
_TO_RUSSIAN = str.maketrans(_LATIN, _RUSSIAN)
_TO_LATIN = str.maketrans(_RUSSIAN, _LATIN)


def swap_layout(text: str) -> str | None:
    """The text as it was meant, if it was typed in the wrong keyboard layout.

    QWERTY <-> ЙЦУКЕН: ``rjyntrcn`` gives ``контекст``, ``сщтеуче`` gives ``context``.
    Returns None when the text has no letters of either layout to swap. The direction is
    chosen by the script most of the letters are in.
    """
    cyrillic = len(_CYRILLIC.findall(text.lower()))
    latin = sum(1 for ch in text if "a" <= ch.lower() <= "z")
    if not cyrillic and not latin:
        return None
    swapped = text.translate(_TO_LATIN if cyrillic > latin else _TO_RUSSIAN)
    return swapped if swapped != text else None
