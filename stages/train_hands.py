"""train_hands: the landmark sets -> HandNet's checkpoint, metrics and per-epoch losses."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout's code, whatever is installed

from signlang.cli import run_stage  # noqa: E402
from signlang.hand_training import train_hands  # noqa: E402
from signlang.params import HandsParams, load_params  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=Path, nargs="+", required=True, help="landmark sets to train on")
    for name in ("extra", "dev", "model", "metrics", "loss_plot", "params"):
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=Path, required=True)
    args = parser.parse_args(argv)
    return run_stage(
        lambda: train_hands(
            train_sets=args.train, extra=args.extra, dev=args.dev, model=args.model, metrics=args.metrics,
            loss_plot=args.loss_plot, params=load_params(args.params, "hands", HandsParams),
        )
    )


if __name__ == "__main__":
    sys.exit(main())
