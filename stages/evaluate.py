"""evaluate: models/model.pt + the test split -> metrics/eval.json, metrics/per_class.json, plots/eval/."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from signlang.cli import run_stage
from signlang.evaluation import evaluate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=Path("models/model.pt"))
    parser.add_argument("--prepared-dir", type=Path, default=Path("data/prepared"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/eval.json"))
    parser.add_argument("--per-class", type=Path, default=Path("metrics/per_class.json"))
    parser.add_argument("--confusion", type=Path, default=Path("plots/eval/confusion.json"))
    parser.add_argument("--by-letter", type=Path, default=Path("plots/eval/by_letter.json"))
    parser.add_argument("--images-dir", type=Path, default=Path("plots/eval/images"))
    args = parser.parse_args(argv)
    return run_stage(
        lambda: evaluate(
            args.model, args.prepared_dir, args.metrics, args.per_class, args.confusion, args.by_letter, args.images_dir
        )
    )


if __name__ == "__main__":
    sys.exit(main())
