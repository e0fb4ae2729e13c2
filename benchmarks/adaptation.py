"""How much a person's own photos help: k photos per letter of one person in data/extra, scored on that
person's other photos.

    python benchmarks/adaptation.py [--shots 3] [--draws 2]

For each person of data/landmarks/people (the `other-people` photos, if you copied them to data/people:
`kennethowen` and `mariia` are one person each; `jbhumika`'s 60 frames per letter run through four
people's videos in blocks of 15, taken here as four people), --shots photos per letter of that person
are drawn (--draws times, fixed seeds) and added to HandNet's training as data/extra would be
(`hands.extra_weight`), as the train_hands stage trains; the fused answer (SignConvNet as committed in
models/model.pt) is scored on the person's other photos, beside the default HandNet on the same photos.
SignConvNet is not retrained here (a `dvc repro` with data/extra would retrain it too). Webcam frames of
one capture are near-duplicates: the other photos include neighbours of the drawn ones.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from signlang.fusion import cnn_log_probabilities, fuse  # noqa: E402
from signlang.landmarks import LandmarkSet, read_landmarks  # noqa: E402
from signlang.model import load_checkpoint  # noqa: E402
from signlang.params import HandsParams, params_from_dict  # noqa: E402

from hands import answer  # noqa: E402  (benchmarks/hands.py: HandNet trained as train_hands trains it)

PROJECT = Path(__file__).resolve().parents[1]
LANDMARKS = PROJECT / "data/landmarks"


def people(landmarks: LandmarkSet) -> dict[str, np.ndarray]:
    """A mask per person: a one-person source whole, jbhumika's blocks of 15 frames each."""
    found: dict[str, np.ndarray] = {}
    for source in sorted(set(landmarks.sources.tolist())):
        in_source = landmarks.sources == source
        if source != "jbhumika":
            found[source] = in_source
            continue
        numbers = np.array([int(re.search(r"_(\d+)\.\w+$", name)[1]) if in_source[i] else 0
                            for i, name in enumerate(landmarks.names)])
        for block in range(4):
            found[f"jbhumika {block + 1}"] = in_source & ((numbers - 1) // 15 == block)
    return found


def fused_top1(params: HandsParams, train: list[LandmarkSet], extra: LandmarkSet | None, test: LandmarkSet,
               cnn: torch.Tensor) -> float:
    hands = answer(params, train, test, extra)
    fused = fuse(cnn, hands, torch.from_numpy(test.found), params.fusion_weight)
    return float((fused.argmax(dim=1) == torch.from_numpy(test.labels)).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", type=int, default=3)
    parser.add_argument("--draws", type=int, default=2)
    args = parser.parse_args()
    params = params_from_dict(yaml.safe_load((PROJECT / "params.yaml").read_text())["hands"], "hands", HandsParams,
                              Path("params.yaml"))
    train = [read_landmarks(LANDMARKS / "train"), read_landmarks(LANDMARKS / "more_hands")]
    everyone = read_landmarks(LANDMARKS / "people")
    cnn_model = load_checkpoint(PROJECT / "models/model.pt", torch.device("cpu"))
    print(f"| person | photos scored | default: fused top-1 | with {args.shots} of theirs per letter: fused top-1 |")
    print("|---|---|---|---|")
    for person, mask in people(everyone).items():
        before, after, scored = [], [], 0
        for draw in range(args.draws):
            rng = np.random.default_rng(draw)
            chosen = np.zeros(len(everyone), bool)
            for label in np.unique(everyone.labels[mask]):
                members = np.flatnonzero(mask & (everyone.labels == label))
                chosen[rng.choice(members, size=min(args.shots, len(members)), replace=False)] = True
            test = everyone.subset(mask & ~chosen)
            cnn = cnn_log_probabilities(cnn_model, test.pixels)
            before.append(fused_top1(params, train, None, test, cnn))
            after.append(fused_top1(params, train, everyone.subset(chosen), test, cnn))
            scored = len(test)
        print(f"| {person} | {scored} | {np.mean(before):.1%} | {np.mean(after):.1%} |", flush=True)


if __name__ == "__main__":
    main()
