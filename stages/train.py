"""train: the prepared arrays -> the model checkpoint, training metrics, loss curves and wall times."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout's code, whatever is installed

from signlang.cli import run_stage, stage_paths  # noqa: E402
from signlang.params import TrainParams, load_params  # noqa: E402
from signlang.training import train  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    paths = stage_paths(argv, __doc__, "prepared_dir", "model", "metrics", "loss_plot", "timing", "params")
    return run_stage(
        lambda: train(
            prepared_dir=paths.prepared_dir,
            model=paths.model,
            metrics=paths.metrics,
            loss_plot=paths.loss_plot,
            timing=paths.timing,
            params=load_params(paths.params, "train", TrainParams),
        )
    )


if __name__ == "__main__":
    sys.exit(main())
