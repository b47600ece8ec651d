"""The console every command prints its tables to (rich only: `retrain --help` loads no more)."""

from __future__ import annotations

import os

from rich.console import Console

# Width of the printed tables when the output is not a terminal (rich would use 80 columns).
PIPED_WIDTH = 160


def output_console() -> Console:
    """The console the CLI prints to: the terminal's width, or `PIPED_WIDTH` when piped.

    Piped to a file or a CI log, rich would wrap the tables at 80 columns; ``COLUMNS`` still
    sets the width when it is given.
    """
    console = Console()
    if console.is_terminal or "COLUMNS" in os.environ:
        return console
    return Console(width=PIPED_WIDTH)
