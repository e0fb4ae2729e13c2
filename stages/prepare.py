"""prepare: the Kaggle CSVs, the training photos and their hands -> validated, framed, normalized arrays."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout's code, whatever is installed

from signlang.cli import run_stage, stage_paths  # noqa: E402
from signlang.data import prepare  # noqa: E402
from signlang.params import PrepareParams, load_params  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    paths = stage_paths(
        argv, __doc__, "raw_dir", "photos_dir", "photo_landmarks", "extra_dir", "extra_landmarks", "out_dir", "params"
    )
    return run_stage(
        lambda: prepare(
            raw_dir=paths.raw_dir,
            photos_dir=paths.photos_dir,
            photo_landmarks=paths.photo_landmarks,
            extra_dir=paths.extra_dir,
            extra_landmarks=paths.extra_landmarks,
            out_dir=paths.out_dir,
            params=load_params(paths.params, "prepare", PrepareParams),
        )
    )


if __name__ == "__main__":
    sys.exit(main())
