"""prepare: data/raw/*.csv[.gz] -> validated, normalized arrays in data/prepared/."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from signlang.cli import run_stage
from signlang.data import prepare
from signlang.params import PrepareParams, load_params


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw-dir", type=Path, default=Path("data/raw"))
    parser.add_argument("--out-dir", type=Path, default=Path("data/prepared"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    return run_stage(lambda: prepare(args.raw_dir, args.out_dir, load_params(args.params, "prepare", PrepareParams)))


if __name__ == "__main__":
    sys.exit(main())
