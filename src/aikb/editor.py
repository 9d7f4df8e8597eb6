"""Handing a note to the user's editor, and Obsidian URIs.

Which editor: ``$VISUAL``, then ``$EDITOR`` (POSIX convention). How to jump to a line
depends on the editor, recognised by the program's name: ``+LINE FILE`` for vi, vim,
nvim, nano, emacs, micro, kak and helix (``hx``), ``FILE:LINE`` for helix's newer form is
not needed; ``-g FILE:LINE`` for VS Code (``code``, ``codium``); ``FILE:LINE`` for
Sublime Text (``subl``); anything else gets just the file.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from aikb.errors import UsageError

_PLUS_LINE = frozenset(
    {
        "vi",
        "vim",
        "nvim",
        "gvim",
        "nano",
        "emacs",
        "emacsclient",
        "micro",
        "hx",
        "helix",
        "kak",
        "joe",
        "mg",
        "ne",
        "jed",
    }
)
_DASH_G = frozenset({"code", "code-insiders", "codium", "vscodium", "cursor"})
_COLON = frozenset({"subl", "sublime_text", "zed", "idea", "pycharm"})


def editor_command(path: Path, line: int, env: Mapping[str, str] | None = None) -> list[str]:
    """The argv that opens ``path`` at ``line`` (1-based) in the user's editor.

    Raises :class:`~aikb.errors.UsageError` when neither ``$VISUAL`` nor ``$EDITOR`` is
    set, or the variable cannot be split into words.
    """
    env = os.environ if env is None else env
    value = (env.get("VISUAL") or env.get("EDITOR") or "").strip()
    if not value:
        raise UsageError("no editor: set $VISUAL or $EDITOR (e.g. export EDITOR=vim)")
    try:
        argv = shlex.split(value)
    except ValueError as exc:
        raise UsageError(f"cannot read $VISUAL/$EDITOR {value!r}: {exc}") from None
    if not argv:
        raise UsageError("no editor: set $VISUAL or $EDITOR (e.g. export EDITOR=vim)")
    program = Path(argv[0]).name.lower().removesuffix(".exe")
    line = max(line, 1)
    if program in _PLUS_LINE:
        return [*argv, f"+{line}", str(path)]
    if program in _DASH_G:
        return [*argv, "-g", f"{path}:{line}"]
    if program in _COLON:
        return [*argv, f"{path}:{line}"]
    return [*argv, str(path)]


def obsidian_uri(vault: Path, note_path: str) -> str:
    """``obsidian://open?vault=NAME&file=PATH`` for a note (Obsidian's URI scheme: the vault
    is named by its folder name, the file is vault-relative without ``.md``; both are
    percent-encoded, spaces as ``%20``)."""
    file = note_path[:-3] if note_path.lower().endswith(".md") else note_path
    return f"obsidian://open?vault={quote(vault.name, safe='')}&file={quote(file, safe='')}"
