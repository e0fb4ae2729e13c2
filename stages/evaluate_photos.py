"""evaluate_photos: both models and the photo sets' hands -> photo metrics per model and confusion records."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout's code, whatever is installed

from signlang.cli import run_stage, stage_paths  # noqa: E402
from signlang.params import PhotosParams, load_params  # noqa: E402
from signlang.photo_evaluation import evaluate_photos  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    paths = stage_paths(argv, __doc__, "model", "hand_model", "landmarks_dir", "metrics", "confusion", "params")
    return run_stage(
        lambda: evaluate_photos(
            model=paths.model, hand_model=paths.hand_model, landmarks_dir=paths.landmarks_dir, metrics=paths.metrics,
            confusion=paths.confusion, params=load_params(paths.params, "photos", PhotosParams),
        )
    )


if __name__ == "__main__":
    sys.exit(main())
