"""What every entry point shares: logging set-up, and bad input as one line on stderr with exit 1."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from signlang.errors import SignlangError


def run_stage(body: Callable[[], object]) -> int:
    """Run a stage's body; a SignlangError becomes ``error: <message>`` on stderr and exit code 1."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        body()
    except SignlangError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
