"""``python -m aikb``: the same as the ``aikb`` command."""

from aikb.cli import main

main()
