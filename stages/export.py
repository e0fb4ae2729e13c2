"""export: both checkpoints -> ONNX for the demo page, each checked against PyTorch (SignConvNet on the test
images, HandNet on the development photos' hands)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout's code, whatever is installed

from signlang.cli import run_stage, stage_paths  # noqa: E402
from signlang.export import export  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    paths = stage_paths(argv, __doc__, "model", "onnx", "prepared_dir", "hand_model", "hand_onnx", "landmarks")
    return run_stage(lambda: export(**vars(paths)))


if __name__ == "__main__":
    sys.exit(main())
