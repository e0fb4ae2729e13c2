"""evaluate_photos: the model and the development photos -> photo metrics and confusion records."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout's code, whatever is installed

from signlang.cli import run_stage, stage_paths  # noqa: E402
from signlang.photo_evaluation import evaluate_photos  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    paths = stage_paths(argv, __doc__, "model", "dev_photos", "metrics", "confusion")
    return run_stage(
        lambda: evaluate_photos(
            model=paths.model, dev_photos=paths.dev_photos, metrics=paths.metrics, confusion=paths.confusion
        )
    )


if __name__ == "__main__":
    sys.exit(main())
