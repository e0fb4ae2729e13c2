"""The ``signlang`` console script (``signlang predict FILES...``); no pipeline stage imports it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from signlang.device import select_device
from signlang.errors import SignlangError
from signlang.model import load_checkpoint
from signlang.params import DEVICES
from signlang.predict import predict_files

MODEL_ARTIFACT = "signlang-cnn"  # the model's name in dvc.yaml's artifacts section


def main(argv: list[str] | None = None) -> int:
    """The ``signlang`` console script: ``signlang predict FILES...``."""
    parser = argparse.ArgumentParser(prog="signlang", description="Sign Language MNIST letters from a trained model.")
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser(
        "predict",
        help="print the most likely letters for images or dataset-format CSVs",
        description="Print the most likely letters for each image (PNG, JPEG, ...; any size, colour or "
        "grayscale) and each row of a CSV in the dataset's format (label,pixel1,...,pixel784; .csv or .csv.gz).",
    )
    predict.add_argument("files", type=Path, nargs="+", metavar="FILE")
    predict.add_argument(
        "--model", type=Path, help=f"a checkpoint; default: the path of the artifact {MODEL_ARTIFACT} in dvc.yaml"
    )
    predict.add_argument("--top", type=positive_int, default=1, metavar="K", help="the K most likely letters")
    predict.add_argument("--json", action="store_true", help="print one JSON document instead of lines")
    predict.add_argument("--device", choices=DEVICES, default="cpu", help="default: %(default)s")
    args = parser.parse_args(argv)
    try:
        return run_predict(args.files, args.model, args.top, args.json, args.device)
    except BrokenPipeError:  # `signlang predict ... | head`: stop quietly, as the Python docs advise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def default_model_path() -> Path:
    """Where dvc.yaml (of the DVC project around the working directory) says the trained model is."""
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    try:
        with Repo() as repo:
            for file, artifacts in repo.artifacts.read().items():
                if MODEL_ARTIFACT in artifacts:
                    found = Path(repo.root_dir) / Path(file).parent / artifacts[MODEL_ARTIFACT].path
                    return Path(os.path.relpath(found))
    except NotDvcRepoError:
        pass
    raise SignlangError(f"no --model given, and no dvc.yaml here declares the artifact {MODEL_ARTIFACT}")


def run_predict(files: list[Path], model_path: Path | None, top: int, as_json: bool, device_name: str) -> int:
    """Predict and print; exit code 0 if every file was answered, 1 if any (or the model) failed."""
    try:
        model_path = model_path or default_model_path()
        loaded = load_checkpoint(model_path, select_device(device_name, key="--device"))
    except SignlangError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    report = predict_files(files, loaded, top)
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
