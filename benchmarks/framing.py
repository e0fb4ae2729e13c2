"""How well MediaPipe frames the hands of the development photos, how long it takes, and which margin
around the hand scores best: the framing figures in docs/photos.md come from this script.

    python benchmarks/framing.py [--model models/model.pt] [--photos data/photos/dev]

For each photo it finds the hand once (the code `signlang predict` runs) and compares the box with the
labelled one (IoU); then it frames every photo with the square around the found hand (the centre square
where none is found) and around the labelled box, for several margins (`framing.HAND_MARGIN`), and
scores the model's top-1 on each. The model was trained on crops framed with the committed margin, so
the table says how far the answer moves around it, not what a model trained at another margin would get.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from signlang.framing import HAND_MARGIN, Box, center_square, frame_pixels, read_photo, square_around
from signlang.fusion import cnn_log_probabilities
from signlang.hand_finding import HandFinder
from signlang.model import LoadedModel, load_checkpoint
from signlang.photos import read_photo_folder

PROJECT = Path(__file__).resolve().parents[1]
MARGINS = (0.05, 0.10, HAND_MARGIN, 0.20, 0.25, 0.35)


def top1(loaded: LoadedModel, pixels: list[np.ndarray], labels: np.ndarray) -> float:
    predicted = cnn_log_probabilities(loaded, np.stack(pixels)).argmax(dim=1).numpy()
    return float(np.mean(predicted == labels))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=PROJECT / "models/model.pt")
    parser.add_argument("--photos", type=Path, default=PROJECT / "data/photos/dev")
    args = parser.parse_args()
    photos = read_photo_folder(args.photos)
    images = [read_photo(photo.path) for photo in photos]
    labels = np.array([photo.label for photo in photos])
    boxed = [(image, photo) for image, photo in zip(images, photos) if photo.box is not None]
    boxed_labels = np.array([photo.label for _, photo in boxed])
    loaded = load_checkpoint(args.model, torch.device("cpu"))
    with HandFinder() as finder:
        finder.find(images[0])  # loads MediaPipe: not timed
        started = time.perf_counter()
        hands = [finder.find(image) for image in images]
        milliseconds = 1000 * (time.perf_counter() - started) / len(images)
    found: list[Box | None] = [hand.box(image.size) if hand else None for hand, image in zip(hands, images)]
    ious = np.array([box.iou(photo.box) if box and photo.box else 0.0 for box, photo in zip(found, photos)])
    share_found = np.mean([box is not None for box in found])
    print(f"{len(photos)} photos in {args.photos}; MediaPipe found a hand in {share_found:.1%}, "
          f"{milliseconds:.0f} ms a photo")
    print(f"IoU with the labelled box (0 where no hand is found): mean {ious.mean():.3f}, median "
          f"{np.median(ious):.3f}, IoU >= 0.5 in {np.mean(ious >= 0.5):.1%}, "
          f"IoU >= 0.7 in {np.mean(ious >= 0.7):.1%}\n")
    print("| margin (HAND_MARGIN) | found hand: top-1 | labelled box: top-1 |")
    print("|---|---|---|")
    for margin in MARGINS:
        auto = [frame_pixels(image, square_around(box, image.size, margin) if box else center_square(image.size))
                for image, box in zip(images, found)]
        given = [frame_pixels(image, square_around(photo.box, image.size, margin)) for image, photo in boxed]
        mark = " (committed)" if margin == HAND_MARGIN else ""
        print(f"| {margin:.2f}{mark} | {top1(loaded, auto, labels):.1%} "
              f"| {top1(loaded, given, boxed_labels):.1%} |", flush=True)
    print(json.dumps({"python": sys.version.split()[0], "torch": torch.__version__}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
