"""``python -m aikb``: the same as the ``aikb`` command."""

from aikb.launch import main

main()
