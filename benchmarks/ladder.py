"""Which retries find the hands MediaPipe's plain call misses: the measurement behind hand_finding.LADDER.

    python benchmarks/ladder.py [--sets train more_hands dev people] [--per-set 120]

Takes the photos of the landmark sets `dvc repro` extracted (data/landmarks/<set>/, photo folders from
dvc.yaml's photo_sets) that the plain call (LADDER[0]) missed, at most --per-set of each (drawn with a
fixed seed), tries each candidate step on them (the full landmark model at detection threshold 0.3 or
the lite one at 0.1, the photo halved or not, padded by 0 to 100% of its longer side with its edge
pixels repeated, or with its corner's colour), and prints how many each finds per set, then a greedy
order: each next step the one that finds the most hands the steps before it missed. About 5 minutes on
one core for 120 photos of each of the four sets.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from signlang.framing import read_photo  # noqa: E402
from signlang.hand_finding import LADDER, HandFinder, Step, edge_padded  # noqa: E402
from signlang.landmarks import read_landmarks  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
CANDIDATES = [
    Step(complexity, confidence, pad, scale)
    for complexity, confidence in ((1, 0.3), (0, 0.1))
    for scale in (1.0, 0.5)
    for pad in (0.0, 0.3, 0.6, 1.0)
]


def corner_padded(rgb: np.ndarray, share: float) -> np.ndarray:
    """Padded with the colour of the top-left pixel instead of the edge (the ladder's first version)."""
    padded, pad = edge_padded(rgb, share)
    padded[:pad], padded[-pad:], padded[:, :pad], padded[:, -pad:] = (rgb[0, 0],) * 4
    return padded


def found(finder: HandFinder, image: Image.Image, step: Step | str) -> bool:
    if isinstance(step, str):  # "corner 30%": constant-colour padding, the full model
        rgb = corner_padded(np.asarray(image), float(step.split()[1].rstrip("%")) / 100)
        return finder._landmarks(rgb, 0, LADDER[0], 0, 1.0) is not None
    scaled = image if step.scale == 1.0 else image.resize(
        (max(1, round(image.width * step.scale)), max(1, round(image.height * step.scale))), Image.Resampling.BILINEAR)
    rgb = np.asarray(scaled)
    padded, pad = edge_padded(rgb, step.pad) if step.pad else (rgb, 0)
    return finder._landmarks(padded, pad, step, 0, 1.0) is not None


def name(step: Step | str) -> str:
    if isinstance(step, str):
        return step
    model = "full" if step.complexity else "lite"
    return f"{model} {step.confidence:g}, scale {step.scale:g}, edge pad {step.pad:.0%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", default=["train", "more_hands", "dev", "people"])
    parser.add_argument("--per-set", type=int, default=120)
    args = parser.parse_args()
    variables = yaml.safe_load((PROJECT / "dvc.yaml").read_text())["vars"]
    folders = next(entry["photo_sets"] for entry in variables if "photo_sets" in entry)
    missed = []
    for key in args.sets:
        landmarks = read_landmarks(PROJECT / "data/landmarks" / key)
        names = landmarks.names[landmarks.step != 0]
        drawn = np.random.default_rng(0).permutation(len(names))[: args.per_set]
        missed += [(key, PROJECT / folders[key] / names[i]) for i in sorted(drawn)]
    candidates: list[Step | str] = [*CANDIDATES, "corner 30%", "corner 60%"]
    hits: dict[str, set[int]] = {name(step): set() for step in candidates}
    with HandFinder() as finder:
        for index, (_, path) in enumerate(missed):
            image = read_photo(path)
            for step in candidates:
                if found(finder, image, step):
                    hits[name(step)].add(index)
    sets = {key: sum(1 for k, _ in missed if k == key) for key in args.sets}
    print(f"photos the plain call misses: {sets}\n")
    print("| step | " + " | ".join(sets) + " |")
    print("|---" * (len(sets) + 1) + "|")
    for step, found_here in hits.items():
        print(f"| {step} | " + " | ".join(str(sum(missed[i][0] == k for i in found_here)) for k in sets) + " |")
    print("\ngreedy order (found so far, per set):")
    covered: set[int] = set()
    while True:
        best = max(hits, key=lambda step: len(hits[step] - covered))
        if not hits[best] - covered:
            break
        covered |= hits[best]
        print(f"  + {best}: " + ", ".join(f"{k} {sum(missed[i][0] == k for i in covered)}/{n}" for k, n in sets.items()))


if __name__ == "__main__":
    main()
