"""landmarks: one photo folder -> the hand MediaPipe finds in each photo, and its crop for SignConvNet."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout's code, whatever is installed

from signlang.cli import run_stage, stage_paths  # noqa: E402
from signlang.landmarks import landmarks_stage  # noqa: E402
from signlang.params import LandmarksParams, load_params  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    paths = stage_paths(argv, __doc__, "photos", "out", "params")
    return run_stage(
        lambda: landmarks_stage(
            photos=paths.photos, out=paths.out,
            mediapipe=load_params(paths.params, "landmarks", LandmarksParams).mediapipe,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
