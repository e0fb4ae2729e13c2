"""Choose HandNet's recipe and the fusion weight on people it never trained on.

    python benchmarks/hands.py [--seeds 0 1 2] [--set hands.width=256 ...] [--weights 0.5 0.6 0.7 0.8 0.9 1]

Reads the landmark sets `dvc repro` extracted (data/landmarks/) and params.yaml's `hands:` recipe,
changed by each --set. Two ways of holding people out, each over --seeds:
  leave one source out: HandNet trains on all training sources but one (the Roboflow training photos,
    and each `more-hands` source) and answers the photos of the one left out: every version of a photo
    and every photo of a source fall on one side;
  people: HandNet trains on all of them (as train_hands does) and answers each source in
    data/landmarks/people (the `other-people` photos, if you copied them to data/people).
Each answer counts the photos without a hand as misses (as given) beside top-1 on the found hands.
With models/model.pt (SignConvNet, which never trains on `more-hands` nor people), the fused top-1 for
each --weights too, on the sources SignConvNet did not train on. Prints one markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from signlang.fusion import cnn_log_probabilities, fuse  # noqa: E402
from signlang.hand_training import canonical_hands, fit_handnet, join  # noqa: E402
from signlang.landmarks import LandmarkSet, read_landmarks  # noqa: E402
from signlang.model import load_checkpoint  # noqa: E402
from signlang.params import HandsParams, params_from_dict  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
LANDMARKS = PROJECT / "data/landmarks"


def recipe(changes: list[str]) -> HandsParams:
    values = yaml.safe_load((PROJECT / "params.yaml").read_text())["hands"]
    for change in changes:
        key, value = change.split("=", 1)
        *parents, last = key.removeprefix("hands.").split(".")
        node = values
        for parent in parents:
            node = node[parent]
        node[last] = yaml.safe_load(value)
    return params_from_dict(values, "hands", HandsParams, Path("params.yaml"))


def sources(landmarks: LandmarkSet, name: str) -> dict[str, LandmarkSet]:
    if not set(landmarks.sources.tolist()) - {""}:
        return {name: landmarks}
    return {source: landmarks.subset(landmarks.sources == source) for source in sorted(set(landmarks.sources.tolist()))}


def answer(params: HandsParams, train: list[LandmarkSet], test: LandmarkSet, extra: LandmarkSet | None = None) -> torch.Tensor:
    """HandNet's log-probabilities (N, classes) on every photo of ``test``, zeros where no hand was found;
    trained as train_hands trains, ``extra``'s hands drawn ``hands.extra_weight`` times."""
    parts = [canonical_hands(part) for part in [*train, *([extra] if extra is not None else [])]]
    hands = join(parts)
    weights = torch.ones(len(hands[2]), dtype=torch.int64)
    if extra is not None:
        weights[len(weights) - len(parts[-1][2]):] = params.extra_weight
    model, _ = fit_handnet(hands, weights, canonical_hands(test), params, torch.device("cpu"))
    found = torch.from_numpy(test.found)
    out = torch.zeros(len(test), 26)
    with torch.no_grad():
        out[found] = torch.log_softmax(model.classify(*canonical_hands(test)[:2]), dim=1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", nargs="*", default=[], dest="changes", metavar="KEY=VALUE")
    parser.add_argument("--weights", type=float, nargs="*", default=[0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    args = parser.parse_args()
    base = recipe(args.changes)
    training = {"roboflow": read_landmarks(LANDMARKS / "train"), **sources(read_landmarks(LANDMARKS / "more_hands"), "")}
    people = sources(read_landmarks(LANDMARKS / "people"), "people")
    model = PROJECT / "models/model.pt"
    cnn = load_checkpoint(model, torch.device("cpu")) if model.exists() else None
    rows: dict[str, list[tuple[float, float, dict[float, float]]]] = {}
    for seed in args.seeds:
        params = dataclasses.replace(base, seed=seed)
        tests = {f"out: {name}": (test, [s for other, s in training.items() if other != name])
                 for name, test in training.items()}
        tests |= {f"people: {name}": (test, list(training.values())) for name, test in people.items() if len(test)}
        for name, (test, train) in tests.items():
            hands = answer(params, train, test)
            labels = torch.from_numpy(test.labels)
            found = torch.from_numpy(test.found)
            hit = (hands.argmax(dim=1) == labels) & found
            fused = {}
            if cnn is not None and name != "out: roboflow":
                cnn_lp = cnn_log_probabilities(cnn, test.pixels)
                fused = {w: float((fuse(cnn_lp, hands, found, w).argmax(dim=1) == labels).float().mean())
                         for w in args.weights}
                fused[0.0] = float((cnn_lp.argmax(dim=1) == labels).float().mean())
            rows.setdefault(name, []).append((float(hit.float().mean()), float(hit[found].float().mean()), fused))
    weights = [0.0, *args.weights]
    print(f"recipe: {' '.join(args.changes) or 'params.yaml'}; seeds {args.seeds}; mean over seeds\n")
    print("| held out | HandNet, as given | HandNet, found hands | " + " | ".join(f"fused w={w:g}" for w in weights) + " |")
    print("| --- " * (3 + len(weights)) + "|")
    for name, results in rows.items():
        given, on_found = np.mean([r[0] for r in results]), np.mean([r[1] for r in results])
        fused = [np.mean([r[2][w] for r in results]) if results[0][2] else float("nan") for w in weights]
        print(f"| {name} | {given:.3f} | {on_found:.3f} | " + " | ".join(f"{f:.3f}" for f in fused) + " |")
    people_rows = [np.mean([r[0] for r in results]) for name, results in rows.items() if name.startswith("people")]
    out_rows = [np.mean([r[0] for r in results]) for name, results in rows.items() if name.startswith("out")]
    print(f"\nmean HandNet as given: left-out sources {np.mean(out_rows):.4f}, people sources {np.mean(people_rows):.4f}")


if __name__ == "__main__":
    main()
