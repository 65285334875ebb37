#!/usr/bin/env bash
# Trains and evaluates the two reference classifiers; prints one JSON record per step.
#   tasks/classifier/recipe.sh [OUT]      (OUT default: runs/classifier)
# 1. LeNet-5 on MNIST: the 10,000 t10k digits in ../shared split 8,000 train / 2,000 test
#    (10% of train held out for early stopping), accuracy on the 2,000 test digits.
# 2. MobileNetV2 transfer learning on cats_and_dogs, 224 px: a head on the frozen
#    backbone; then the same followed by fine-tuning the top third of the backbone.
#    10% of train is held out for early stopping; accuracy is measured on the untouched
#    1,000-image validation split.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=$(cd "${DLKIT_SHARED:-$here/../../../shared}" && pwd)
out=${1:-runs/classifier}
mkdir -p "$out" "$here/figures"

dlkit import-mnist "$shared/data/mnist" "$out/mnist" --test-size 2000 --json
dlkit train-classifier "$out/mnist/train" --arch lenet5 --no-augment --val-split 0.1 --epochs 30 \
    --patience 4 --seed 1 -o "$out/lenet5.keras" --json
dlkit evaluate-classifier "$out/mnist/test" --model "$out/lenet5.keras" --json | tail -n 1

cats_dogs=$shared/data/cats_and_dogs
dlkit train-classifier "$cats_dogs/train" --val-split 0.1 --epochs 10 --seed 1 \
    -o "$out/cats_dogs_frozen.keras" --json
dlkit evaluate-classifier "$cats_dogs/validation" --model "$out/cats_dogs_frozen.keras" --json | tail -n 1
dlkit train-classifier "$cats_dogs/train" --val-split 0.1 --epochs 10 --fine-tune-epochs 6 \
    --seed 1 -o "$out/cats_dogs.keras" --json
dlkit evaluate-classifier "$cats_dogs/validation" --model "$out/cats_dogs.keras" --json | tail -n 1

for name in lenet5 cats_dogs_frozen cats_dogs; do
    cp "$out/$name.curves.png" "$out/$name.confusion.png" "$here/figures/"
done
