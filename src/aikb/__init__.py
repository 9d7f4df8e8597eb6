"""aikb: an Obsidian-style vault of AI notes as a concept graph, in the terminal.

The public API, imported lazily (so ``aikb --help`` stays fast)::

    from aikb import Index, locate_vault, lookup

    index = Index.open(locate_vault(None), None)   # in memory; or a path for a cache
    index.sync()
    concept = lookup(index, "context window").concept
    print(concept.id, [link.resolved for link in index.links_from(concept)])

``parse_note`` parses one note's text without touching the file system; ranked search
is ``aikb.search.search`` and the vault report ``aikb.check.check`` (their modules
share their names, so they are not re-exported here).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Backlink": "aikb.model",
    "Concept": "aikb.model",
    "Link": "aikb.model",
    "ParsedNote": "aikb.model",
    "Problem": "aikb.model",
    "ResolvedLink": "aikb.model",
    "Section": "aikb.model",
    "Index": "aikb.index",
    "parse_note": "aikb.parse",
    "locate_vault": "aikb.vault",
    "lookup": "aikb.search",
    "AikbError": "aikb.errors",
    "NotFound": "aikb.errors",
    "VaultError": "aikb.errors",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'aikb' has no attribute {name!r}")
    return getattr(import_module(module), name)
