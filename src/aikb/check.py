"""``aikb check``: what is broken in a vault, as a list of findings.

Findings, each tied to a note and a line:

* unresolved links, by reason: ``missing note``, ``missing heading``, ``missing block``,
  ``missing attachment``;
* ``ambiguous link``: a note name that several notes share, with the note chosen by the
  tie-break (see :mod:`aikb.graph`) and the others;
* ``invalid front matter``, ``encoding`` and ``unreadable file`` problems met while loading,
  and ``duplicate note`` for a file whose name differs from another's only in Unicode form
  or in the case of ``.md`` (the file sorted first is the note);
* ``duplicate alias``: one alias (compared like names, case-insensitively) on two notes;
* ``orphan`` (only when asked): a note with no resolved link to or from another note.
"""

from __future__ import annotations

from typing import NamedTuple

from aikb.index import Index
from aikb.model import Link

ORDER = (
    "unreadable file",
    "duplicate note",
    "encoding",
    "invalid front matter",
    "missing note",
    "missing heading",
    "missing block",
    "missing attachment",
    "ambiguous link",
    "duplicate alias",
    "orphan",
)
"""Every finding kind, in the order a report lists them within one note."""


class Finding(NamedTuple):
    """One problem: the note's path, line (0: the whole note), kind, the link target or
    alias it is about (or None), and a one-line message (the link as written, for an
    unresolved link)."""

    note: str
    line: int
    kind: str
    target: str | None
    message: str


def check(index: Index, orphans: bool = False) -> list[Finding]:
    """Every finding in the vault, sorted by note path, line, then kind."""
    findings: list[Finding] = []
    for problem in index.problems():
        findings.append(Finding(problem.path, problem.line, problem.kind, None, problem.message))
    for item in index.all_links():
        link = item.link
        if item.reason:
            findings.append(
                Finding(item.path, link.line, item.reason, link.text, _written(item.link))
            )
        elif item.candidates:
            chosen = item.resolved or ""
            others = ", ".join(item.candidates)
            findings.append(
                Finding(
                    item.path,
                    link.line,
                    "ambiguous link",
                    link.text,
                    f"{_written(item.link)} chose {chosen}; could also be {others}",
                )
            )
    for alias, paths in index.duplicate_aliases():
        for path in paths:
            others = ", ".join(p for p in paths if p != path)
            findings.append(
                Finding(
                    path, 0, "duplicate alias", alias, f"alias {alias!r} is also used by {others}"
                )
            )
    if orphans:
        for path in index.orphans():
            findings.append(Finding(path, 0, "orphan", None, "no links to or from other notes"))
    findings.sort(
        key=lambda f: (
            f.note.casefold(),
            f.note,
            f.line,
            ORDER.index(f.kind) if f.kind in ORDER else len(ORDER),
        )
    )
    return findings


def _written(link: Link) -> str:
    """The link as a reader would recognise it: ``[[T#H]]``, ``![[x.png]]``, ``(path.md)``."""
    if link.kind == "markdown":
        return f"({link.text})"
    return f"{'!' if link.kind == 'embed' else ''}[[{link.text}]]"


def as_json(findings: list[Finding]) -> dict[str, object]:
    """The documented ``check --json`` object: ``{"problems": [...], "counts": {kind: n}}``."""
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.kind] = counts.get(finding.kind, 0) + 1
    return {
        "problems": [
            {
                "note": f.note,
                "line": f.line,
                "kind": f.kind,
                "target": f.target,
                "message": f.message,
            }
            for f in findings
        ],
        "counts": counts,
    }
