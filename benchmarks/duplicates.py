"""How alike the Kaggle images are: the figures on near-duplicates and the grouped validation split in
docs/data.md come from this script.

    python benchmarks/duplicates.py [--raw-dir data/raw] [--val-fraction 0.1] [--seed 0]

The Kaggle CSVs were grown from a smaller number of photos into many variants of each. For every image
it finds the most alike other image (the correlation of the two, pooled to 14x14, that
`near_duplicate_groups` thresholds): within the training CSV, among the training images of the other
letters, and from each test image to the training CSV. Then the groups of near-duplicates, and what each
`prepare.val_split` puts in val: how many val images have a near-duplicate (correlation above the
threshold) left in the train split.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from signlang.data import DUPLICATE_SIMILARITY, likeness_features, stratified_split, val_groups
from signlang.kaggle import RAW_FILES, find_raw_csv, read_dataset_csv
from signlang.params import VAL_SPLITS

PROJECT = Path(__file__).resolve().parents[1]
QUANTILES = (0.01, 0.05, 0.25, 0.5)


def most_alike(queries: np.ndarray, pool: np.ndarray, exclude_self: bool = False) -> np.ndarray:
    """For each row of ``queries``, its largest dot product with a row of ``pool`` (another row when
    ``exclude_self``: queries and pool are then the same array)."""
    best = np.empty(len(queries), dtype=np.float32)
    for start in range(0, len(queries), 2048):
        similarity = queries[start : start + 2048] @ pool.T
        if exclude_self:
            rows = np.arange(similarity.shape[0])
            similarity[rows, start + rows] = -1.0
        best[start : start + 2048] = similarity.max(axis=1)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-dir", type=Path, default=PROJECT / "data/raw")
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train_pixels, train_labels = read_dataset_csv(find_raw_csv(args.raw_dir, RAW_FILES["train"]))
    test_pixels, _ = read_dataset_csv(find_raw_csv(args.raw_dir, RAW_FILES["test"]))
    train, test = likeness_features(train_pixels), likeness_features(test_pixels)
    within, across = most_alike(train, train, exclude_self=True), most_alike(test, train)
    other_letter = np.empty(len(train), dtype=np.float32)
    for label in np.unique(train_labels):
        rows = train_labels == label
        other_letter[rows] = most_alike(train[rows], train[~rows])

    print("| most alike other image (correlation) | " + " | ".join(f"{q:.0%} quantile" for q in QUANTILES)
          + f" | share above {DUPLICATE_SIMILARITY} |")
    print("|---" * (len(QUANTILES) + 2) + "|")
    rows = (("training image, in the training CSV", within), ("training image, other letters only", other_letter),
            ("test image, in the training CSV", across))
    for name, values in rows:
        cells = " | ".join(f"{value:.3f}" for value in np.quantile(values, QUANTILES))
        print(f"| {name} | {cells} | {np.mean(values > DUPLICATE_SIMILARITY):.1%} |")

    split_groups = {name: val_groups(train_pixels, train_labels, name) for name in VAL_SPLITS}
    groups = split_groups["grouped"]
    sizes = np.bincount(groups)
    print(f"\n{len(train_labels):,} training images in {len(sizes):,} groups of near-duplicates "
          f"(median {np.median(sizes):.0f} images, largest {sizes.max()})\n")
    print("| prepare.val_split | val images | val groups | val images with a near-duplicate in train |")
    print("|---|---|---|---|")
    for name in VAL_SPLITS:
        train_index, val_index = stratified_split(train_labels, split_groups[name], args.val_fraction, args.seed)
        leaked = np.zeros(len(val_index), dtype=bool)
        for label in np.unique(train_labels):
            in_val = train_labels[val_index] == label
            same_letter_train = train[train_index[train_labels[train_index] == label]]
            leaked[in_val] = most_alike(train[val_index[in_val]], same_letter_train) > DUPLICATE_SIMILARITY
        print(f"| {name} | {len(val_index):,} | {len(np.unique(groups[val_index]))} | {leaked.mean():.1%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
