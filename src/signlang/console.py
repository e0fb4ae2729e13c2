"""The ``signlang`` console script (``signlang predict FILES...``, ``signlang demo``, ``signlang sweep``); no
pipeline stage imports it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from signlang.allocator import keep_freed_memory
from signlang.device import select_device
from signlang.errors import SignlangError
from signlang.framing import Box
from signlang.fusion import MODELS, Models
from signlang.handnet import load_handnet
from signlang.model import load_checkpoint
from signlang.params import DEVICES
from signlang.predict import AUTO, NO_FRAME, Framing, predict_files

MODEL_ARTIFACT = "signlang-cnn"  # SignConvNet's name in dvc.yaml's artifacts section
HANDS_ARTIFACT = "signlang-hands"  # HandNet's


def main(argv: list[str] | None = None) -> int:
    """The ``signlang`` console script: ``predict``, ``demo`` and ``sweep``."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["sweep"]:  # its own parser (docs/sweeps.md); imported here, so predict loads no DVC
        from signlang.sweep import main as sweep_main

        return sweep_main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        return run_demo(args.dir, args.port, args.open)
    how = Framing(find_hand=False, box=args.box) if args.box else NO_FRAME if args.no_frame else AUTO
    keep_freed_memory()
    try:
        return run_predict(args.files, args.model, args.checkpoint, args.hand_checkpoint, args.top, args.json,
                           args.device, how)
    except BrokenPipeError:  # `signlang predict ... | head`: stop quietly, as the Python docs advise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="signlang", description="Sign Language MNIST letters from a trained model.")
    commands = parser.add_subparsers(dest="command", required=True)
    add_predict_command(commands)
    add_demo_command(commands)
    commands.add_parser(  # listed for `signlang -h`; main hands `signlang sweep ...` to signlang.sweep
        "sweep", add_help=False,
        help="run a grid of DVC experiments over several machines, and gather them (docs/sweeps.md)",
    )
    return parser


def add_predict_command(commands: argparse._SubParsersAction) -> None:
    predict = commands.add_parser(
        "predict",
        help="print the most likely letters for images or dataset-format CSVs",
        description="Print the most likely letters for each image (PNG, JPEG, ...; any size, colour or "
        "grayscale), framed around the hand MediaPipe finds in it, and for each row of a CSV in the dataset's "
        "format (label,pixel1,...,pixel784; .csv or .csv.gz).",
    )
    predict.add_argument("files", type=Path, nargs="+", metavar="FILE")
    predict.add_argument(
        "--model", choices=MODELS, default="fused",
        help="fused: both models where a hand is found, SignConvNet elsewhere; hands: HandNet alone (needs a hand); "
        "cnn: SignConvNet alone. Default: %(default)s",
    )
    predict.add_argument(
        "--checkpoint", type=Path, help=f"SignConvNet's checkpoint; default: the artifact {MODEL_ARTIFACT} in dvc.yaml"
    )
    predict.add_argument(
        "--hand-checkpoint", type=Path, help=f"HandNet's checkpoint; default: the artifact {HANDS_ARTIFACT} in dvc.yaml"
    )
    predict.add_argument("--top", type=positive_int, default=1, metavar="K", help="the K most likely letters")
    predict.add_argument("--json", action="store_true", help="print one JSON document instead of lines")
    predict.add_argument("--device", choices=DEVICES, default="cpu", help="default: %(default)s")
    framing = predict.add_mutually_exclusive_group()
    framing.add_argument(
        "--box", type=box_argument, metavar="X0,Y0,X1,Y1",
        help="the hand's box in pixels (of every image given), framed as a found hand is; no search",
    )
    framing.add_argument(
        "--no-frame", action="store_true", help="do not look for the hand: take the centre square of each image"
    )


def add_demo_command(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser(
        "demo",
        help="serve the demo page (make demo builds it) on 127.0.0.1, for browsers that allow the camera only there",
        description="Serve the demo page, demo/index.html, on http://127.0.0.1:PORT (this computer only) until "
        "Ctrl+C. The page also works opened straight from disk, but some browsers allow the camera only on "
        "https:// and http://localhost pages.",
    )
    demo.add_argument(
        "--dir", type=Path, default=Path("demo"), help="the folder holding index.html; default: %(default)s"
    )
    demo.add_argument("--port", type=int, default=8000, help="0 for any free port; default: %(default)s")
    demo.add_argument("--open", action="store_true", help="also open the page in the default browser")


def run_demo(directory: Path, port: int, open_browser: bool) -> int:
    """`signlang demo`: serve the page until Ctrl+C; a missing page or a taken port is one line, exit code 1."""
    from signlang.demo import serve  # http.server: only for this command

    try:
        return serve(directory, port, open_browser)
    except SignlangError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def box_argument(text: str) -> Box:
    try:
        return Box.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def default_model_path(artifact: str = MODEL_ARTIFACT) -> Path:
    """Where dvc.yaml (of the DVC project around the working directory) says a trained model is."""
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    try:
        with Repo() as repo:
            for file, artifacts in repo.artifacts.read().items():
                if artifact in artifacts:
                    found = Path(repo.root_dir) / Path(file).parent / artifacts[artifact].path
                    return Path(os.path.relpath(found))
    except NotDvcRepoError:
        pass
    option = "--checkpoint" if artifact == MODEL_ARTIFACT else "--hand-checkpoint"
    raise SignlangError(f"no {option} given, and no dvc.yaml here declares the artifact {artifact}")


def run_predict(
    files: list[Path], model: str, checkpoint: Path | None, hand_checkpoint: Path | None, top: int, as_json: bool,
    device_name: str, framing: Framing,
) -> int:
    """Predict and print; exit code 0 if every file was answered, 1 if any (or a model) failed."""
    try:
        device = select_device(device_name, key="--device")
        loaded = load_checkpoint(checkpoint or default_model_path(), device)
        hands = None if model == "cnn" else load_handnet(hand_checkpoint or default_model_path(HANDS_ARTIFACT), device)
    except SignlangError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    report = predict_files(files, Models(loaded, hands), top, framing, model)
    for _, why in report.errors:
        print(f"error: {why}", file=sys.stderr)
    if as_json:
        document = {
            "results": [prediction.to_dict() for prediction in report.predictions],
            "errors": [{"input": name, "error": why} for name, why in report.errors],
        }
        print(json.dumps(document, indent=2))
    else:
        for prediction in report.predictions:
            print(prediction.line())
    return 1 if report.errors else 0
