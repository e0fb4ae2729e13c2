"""evaluate: the model and the test split -> test metrics, per-letter metrics, confusion records and image grids."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout's code, whatever is installed

from signlang.cli import run_stage, stage_paths  # noqa: E402
from signlang.evaluation import evaluate  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    paths = stage_paths(
        argv, __doc__, "model", "prepared_dir", "metrics", "per_class", "confusion", "by_letter", "images_dir"
    )
    return run_stage(
        lambda: evaluate(
            model=paths.model,
            prepared_dir=paths.prepared_dir,
            metrics=paths.metrics,
            per_class=paths.per_class,
            confusion=paths.confusion,
            by_letter=paths.by_letter,
            images_dir=paths.images_dir,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
