"""export: the model checkpoint -> ONNX for the demo page, checked against PyTorch on the test images."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # this checkout's code, whatever is installed

from signlang.cli import run_stage, stage_paths  # noqa: E402
from signlang.export import export  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    paths = stage_paths(argv, __doc__, "model", "onnx", "prepared_dir")
    return run_stage(lambda: export(model=paths.model, onnx=paths.onnx, prepared_dir=paths.prepared_dir))


if __name__ == "__main__":
    sys.exit(main())
