"""``python -m api.cli``: the same as the ``facekeep`` console script.

A spawned worker process never runs this file again: multiprocessing skips a main module
named ``*.__main__`` when it prepares a child, so image workers import no command."""

from __future__ import annotations

from api.cli import main

if __name__ == "__main__":
    main()
