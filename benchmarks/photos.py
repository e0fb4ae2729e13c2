"""Measure the models on the development photos: the README's real-photo table comes from this script.

    python benchmarks/photos.py [--raw-dir data/raw] [--recipes seed before default] [--shots 1 3 5] [--draws 2]

In a temporary clone of HEAD (with your data/raw), it trains three recipes (or those --recipes names)
with `dvc repro`:
  seed     the Kaggle notebook's recipe (10 epochs of Adam at 1e-3, dropout 0.5, no augmentation, no photos);
  before   the recipe before photos (params.yaml with train.photo_share=0, no mirroring, dropout 0.5);
  default  params.yaml as committed;
and scores each on data/photos/dev three ways, through `signlang predict`'s code: no framing (the
centre square, --no-frame), auto framed (the default: around the hand MediaPipe finds) and framed by
the labelled box (--box). Then the adaptation curve: for k photos per letter, k development photos of
each letter go to data/extra/, `dvc repro` retrains the default recipe, and the model is scored on
the other development photos, beside the default model on the same photos (`--draws` different
draws of the k photos). The clone uses the project's DVC cache, so a prepare stage the cache has
already run on the same inputs is restored from DVC's run-cache instead of framing the photos again.
Last, how well MediaPipe frames the hands: IoU with the labelled boxes.
The development photos share people and rooms with the training photos: the figures overstate what a
new person in a new room gets. A full run trains 3 + len(shots) * draws models (about 10 minutes each
for the default recipe on a 2-core CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from signlang import LETTERS
from signlang.framing import read_photo
from signlang.fusion import Models
from signlang.hand_finding import HandFinder
from signlang.model import load_checkpoint
from signlang.photos import BOXES_FILE, Photo, read_photo_folder
from signlang.predict import AUTO, NO_FRAME, Framing, predict_files

PROJECT = Path(__file__).resolve().parents[1]
DEV = Path("data/photos/dev")
RECIPES: dict[str, dict[str, object]] = {
    "seed": {"train.epochs": 10, "train.lr": 0.001, "train.schedule": "constant", "train.weight_decay": 0.0,
             "train.label_smoothing": 0.0, "train.dropout": 0.5, "train.augment.enabled": False,
             "train.photo_share": 0.0},
    "before": {"train.photo_share": 0.0, "train.augment.mirror": False, "train.dropout": 0.5},
    "default": {},
}


@dataclass(frozen=True)
class Score:
    top1: float
    top3: float
    photos: int

    def cells(self) -> str:
        return f"{self.top1:.1%} | {self.top3:.1%}"


def run(repo: Path, *args: str) -> None:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = os.environ | {"DVC_NO_ANALYTICS": "1", "PATH": path}
    subprocess.run(args, cwd=repo, env=env, check=True, stdout=sys.stderr, stderr=sys.stderr)


def set_params(repo: Path, changes: dict[str, object]) -> None:
    path = repo / "params.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key, value in changes.items():
        *parents, last = key.split(".")
        section = document
        for name in parents:
            section = section[name]
        section[last] = value
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def train(repo: Path, changes: dict[str, object], out: Path) -> tuple[Path, float]:
    """`dvc repro evaluate` with params.yaml as committed plus ``changes``: the model, copied to ``out``,
    and its Kaggle test accuracy."""
    run(repo, "git", "checkout", "-q", "params.yaml")
    set_params(repo, changes)
    started = time.perf_counter()
    run(repo, sys.executable, "-m", "dvc", "repro", "evaluate")
    print(f"trained {out.stem} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    shutil.copy(repo / "models/model.pt", out)
    return out, json.loads((repo / "metrics/eval.json").read_text())["accuracy"]


def score(model: Path, photos: list[Photo], framing: Framing | None) -> Score:
    """Top-1 and top-3 on ``photos``; framing None means each photo's labelled box (--box)."""
    models = Models(load_checkpoint(model, torch.device("cpu")), hands=None)  # SignConvNet alone: its recipes
    if framing is None:
        predictions = [predict_files([p.path], models, 3, Framing(find_hand=False, box=p.box), "cnn").predictions[0]
                       for p in photos]
    else:
        predictions = predict_files([p.path for p in photos], models, 3, framing, "cnn").predictions
    truth = [LETTERS[p.label] for p in photos]
    top1 = np.mean([p.letters[0] == t for p, t in zip(predictions, truth)])
    top3 = np.mean([t in p.letters for p, t in zip(predictions, truth)])
    return Score(float(top1), float(top3), len(photos))


def choose_shots(photos: list[Photo], shots: int, draw: int) -> list[Photo]:
    """``shots`` photos of each letter, a different draw for each ``draw``."""
    rng = np.random.default_rng([shots, draw])
    chosen = []
    for label in sorted({p.label for p in photos}):
        members = [p for p in photos if p.label == label]
        picks = rng.choice(len(members), size=min(shots, len(members) - 1), replace=False)
        chosen += [members[i] for i in sorted(picks)]
    return chosen


def put_in_extra(repo: Path, photos: list[Photo]) -> None:
    extra = repo / "data/extra"
    for child in extra.iterdir():
        if not child.name.startswith("."):
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    rows = ["file,letter,x0,y0,x1,y1"]
    for photo in photos:
        (extra / photo.name).parent.mkdir(exist_ok=True)
        shutil.copy(photo.path, extra / photo.name)
        if photo.box is not None:
            rows.append(f"{photo.name},{LETTERS[photo.label]},{','.join(f'{v:g}' for v in photo.box.as_tuple())}")
    (extra / BOXES_FILE).write_text("\n".join(rows) + "\n", encoding="utf-8")


def framing_quality(photos: list[Photo]) -> tuple[float, float, float]:
    """Share of photos where a hand is found, mean IoU with the labelled box (0 where none is found), and
    share with IoU >= 0.5."""
    ious, found = [], 0
    with HandFinder() as finder:
        for photo in photos:
            image = read_photo(photo.path)
            hand = finder.find(image)
            box = hand.box(image.size) if hand is not None else None
            found += box is not None
            ious.append(box.iou(photo.box) if box is not None and photo.box is not None else 0.0)
    return found / len(photos), float(np.mean(ious)), float(np.mean(np.array(ious) >= 0.5))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-dir", type=Path, default=PROJECT / "data/raw", help="the Kaggle CSVs")
    parser.add_argument("--shots", type=int, nargs="*", default=[1, 3, 5], help="photos per letter in data/extra")
    parser.add_argument("--draws", type=int, default=2, help="draws of the photos for each number of shots")
    parser.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=list(RECIPES), help="recipes to train")
    args = parser.parse_args()
    if args.shots and "default" not in args.recipes:
        parser.error("the adaptation curve (--shots) compares with the default recipe: add it to --recipes")
    work = Path(tempfile.mkdtemp(prefix="signlang-photos-"))
    try:
        repo = work / "repo"
        run(work, "git", "clone", "-q", str(PROJECT), str(repo))
        shutil.copytree(args.raw_dir.resolve(), repo / "data/raw", dirs_exist_ok=True)
        if (PROJECT / ".dvc/cache").is_dir():  # a prepare run this cache knows comes from DVC's run-cache
            run(repo, sys.executable, "-m", "dvc", "cache", "dir", "--local", str(PROJECT / ".dvc/cache"))
        dev = read_photo_folder(repo / DEV)
        models = {name: train(repo, RECIPES[name], work / f"{name}.pt") for name in args.recipes}
        print(f"{len(dev)} development photos\n")
        print("| recipe | Kaggle test | no framing: top-1 | top-3 | auto framed: top-1 | top-3 "
              "| true box: top-1 | top-3 |")
        print("|---|---|---|---|---|---|---|---|")
        for name, (model, test_accuracy) in models.items():
            cells = [score(model, dev, framing).cells() for framing in (NO_FRAME, AUTO, None)]
            print(f"| {name} | {test_accuracy:.2%} | {' | '.join(cells)} |", flush=True)
        print()
        print("| photos per letter in data/extra | draw | scored on | default model: top-1 | top-3 "
              "| adapted: top-1 | top-3 |")
        print("|---|---|---|---|---|---|---|")
        for shots in args.shots:
            for draw in range(args.draws):
                chosen = choose_shots(dev, shots, draw)
                names = {p.name for p in chosen}
                rest = [p for p in dev if p.name not in names]
                put_in_extra(repo, chosen)
                adapted, _ = train(repo, {}, work / f"extra{shots}_{draw}.pt")
                base = score(models["default"][0], rest, AUTO)
                print(f"| {shots} | {draw} | {len(rest)} | {base.cells()} | {score(adapted, rest, AUTO).cells()} |",
                      flush=True)
        put_in_extra(repo, [])
        found, iou, share = framing_quality(dev)
        print(f"\nMediaPipe framing on the {len(dev)} development photos: hand found in {found:.1%}, "
              f"mean IoU with the labelled box {iou:.3f} (0 where none is found), IoU >= 0.5 in {share:.1%}")
        print(json.dumps({"python": sys.version.split()[0], "torch": torch.__version__}), file=sys.stderr)
    finally:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
