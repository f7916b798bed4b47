"""``python -m bench`` is the ``bench`` command."""

from bench._entry import main

main()
