"""aikb: an Obsidian-style vault of AI notes as a concept graph, in the terminal.

The public API: parse a note's text, open a vault's index, look terms up and search.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
