"""The public API, as the package docstring shows it."""

from __future__ import annotations

import subprocess
import sys

import aikb


def test_documented_example() -> None:
    from aikb import Index, locate_vault, lookup, parse_note

    index = Index.open(locate_vault(None), None)
    index.sync()
    concept = lookup(index, "context window").concept
    assert concept.id == "Context window"
    assert any(link.resolved == "Tokens" for link in index.links_from(concept))
    assert [s.title for s in parse_note("# A\n## B\n").sections] == ["A", "B"]


def test_every_export_resolves() -> None:
    for name in aikb.__all__:
        assert getattr(aikb, name) is not None


def test_package_import_is_lazy() -> None:
    code = "import sys, aikb; print(sorted(m for m in sys.modules if m.startswith('aikb')))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "['aikb']"
