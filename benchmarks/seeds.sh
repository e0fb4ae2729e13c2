#!/usr/bin/env bash
# Train and evaluate the recipe in params.yaml for train.seed 0, 1 and 2, each as a DVC experiment,
# and print a Markdown table of the results (the README's accuracy tables come from this script).
# Extra arguments go to every `dvc exp run`, e.g.:  benchmarks/seeds.sh -S train.epochs=20
# Needs the Kaggle CSVs in data/raw/ and the project's virtual environment on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
export DVC_NO_ANALYTICS=1
printf '| train.seed | test accuracy | best val accuracy | val - test | best epoch | s/epoch |\n'
printf '|---|---|---|---|---|---|\n'
for seed in 0 1 2; do
  dvc exp run --quiet -S "train.seed=$seed" "$@" >&2
  python - "$seed" <<'PY'
import json, sys
ev = json.load(open("metrics/eval.json"))
tr = json.load(open("metrics/train.json"))
gap = tr["best_val_accuracy"] - ev["accuracy"]
print(f"| {sys.argv[1]} | {ev['accuracy']:.2%} | {tr['best_val_accuracy']:.2%} | {gap:+.2%} "
      f"| {tr['best_epoch']} | {tr['seconds_per_epoch']:.1f} |")
PY
done
