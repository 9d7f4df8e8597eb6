"""The ``aikb`` command's entry point, kept apart from :mod:`aikb.cli`: a Ctrl-C while the
command's modules are still loading (typer and rich take a tenth of a second) ends it as
quietly as one while it runs, with exit code 130 and no traceback."""

from __future__ import annotations

import sys


def main() -> None:
    """Load :mod:`aikb.cli` and run :func:`aikb.cli.main`."""
    try:
        from aikb.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        raise SystemExit(130) from None
    run()
