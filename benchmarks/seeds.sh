#!/usr/bin/env bash
# Train and evaluate the committed recipe (HEAD's params.yaml) for train.seed 0, 1 and 2 (or $SEEDS), as DVC
# experiments in a temporary clone (so the workspace stays free), and print a Markdown table.
# The README's accuracy tables come from this script. Extra arguments go to every `dvc exp run`:
#   SEEDS="1 2" benchmarks/seeds.sh -S train.epochs=10
# Needs the Kaggle CSVs in data/raw/ and the project's virtual environment on PATH.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export DVC_NO_ANALYTICS=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q "$root" "$work/repo"
cd "$work/repo"
mkdir -p data
cp -r "$root/data/raw" data/raw  # the photos come with the clone (data/photos is in git)
printf '| train.seed | test accuracy | best val accuracy | val - test | best epoch | photos top-1 | photos top-3 | s/epoch |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for seed in ${SEEDS:-0 1 2}; do
  dvc exp run --quiet -S "train.seed=$seed" "$@" >&2
  python - "$seed" <<'PY'
import json, sys
ev = json.load(open("metrics/eval.json"))
tr = json.load(open("metrics/train.json"))
ph = json.load(open("metrics/photos.json"))  # the development photos, as signlang predict answers them
time = json.load(open("logs/train_time.json"))  # wall times live outside the metrics
gap = tr["best_val_accuracy"] - ev["accuracy"]
print(f"| {sys.argv[1]} | {ev['accuracy']:.2%} | {tr['best_val_accuracy']:.2%} | {gap:+.2%} "
      f"| {tr['best_epoch']} | {ph.get('top1', 0):.1%} | {ph.get('top3', 0):.1%} | {time['seconds_per_epoch']:.1f} |")
PY
done
