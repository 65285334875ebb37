#!/usr/bin/env bash
# CNN features + linear SVM vs the Sobel baseline on the full cats_and_dogs split.
#   bash tasks/svm/recipe.sh [OUT_DIR]
set -euo pipefail
data="${DLKIT_SHARED:-$(dirname "$0")/../../../shared}/data/cats_and_dogs"
out="${1:-runs/svm}"
mkdir -p "$out"
for backbone in mobilenet_v2 sobel; do
  dlkit extract-features "$data/train" --backbone "$backbone" -o "$out/$backbone-train.npz"
  dlkit extract-features "$data/validation" --backbone "$backbone" -o "$out/$backbone-validation.npz"
  dlkit train-svm "$out/$backbone-train.npz" --test "$out/$backbone-validation.npz" \
    -o "$out/$backbone-svm" --seed 0 --json | tee "$out/$backbone-metrics.json"
done
