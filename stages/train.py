"""train: data/prepared/ -> models/model.pt, metrics/train.json, plots/train/loss.json, logs/train_time.json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from signlang.cli import run_stage
from signlang.params import TrainParams, load_params
from signlang.training import train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prepared-dir", type=Path, default=Path("data/prepared"))
    parser.add_argument("--model", type=Path, default=Path("models/model.pt"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/train.json"))
    parser.add_argument("--loss-plot", type=Path, default=Path("plots/train/loss.json"))
    parser.add_argument("--timing", type=Path, default=Path("logs/train_time.json"), help="wall times (not metrics)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    return run_stage(
        lambda: train(
            args.prepared_dir,
            args.model,
            args.metrics,
            args.loss_plot,
            args.timing,
            load_params(args.params, "train", TrainParams),
        )
    )


if __name__ == "__main__":
    sys.exit(main())
