"""What every stage script shares: its path arguments, logging set-up, and bad input as one line on
stderr with exit code 1."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from signlang.allocator import keep_freed_memory
from signlang.errors import SignlangError


def stage_paths(argv: list[str] | None, description: str | None, *names: str) -> argparse.Namespace:
    """Parse the stage's paths, each a required ``--name`` option: dvc.yaml's cmd is the one place they
    are written, so the scripts hold no defaults."""
    parser = argparse.ArgumentParser(description=description)
    for name in names:
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=Path, required=True)
    return parser.parse_args(argv)


def run_stage(body: Callable[[], object]) -> int:
    """Run a stage's body; a SignlangError becomes ``error: <message>`` on stderr and exit code 1."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    keep_freed_memory()
    try:
        body()
    except SignlangError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
