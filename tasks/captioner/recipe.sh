#!/usr/bin/env bash
# Trains the shipped captioner on the Flickr8k training split (official split files),
# stores its Dense/Embedding weights as int8 (evaluating that copy makes its ONNX twin),
# scores BLEU-1..4 of both copies on the official test split, draws an attention map and
# ships the int8 copy.
#   bash tasks/captioner/recipe.sh [WORK_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
shared="${DLKIT_SHARED:-$here/../../../shared}"
data="$shared/data/flickr8k"
work="${1:-runs/captioner}"
mkdir -p "$work"

dlkit train-captioner "$data" -o "$work/captioner" --seed 0 --json | tee "$work/train.json"
dlkit evaluate-captioner "$data" --model "$work/captioner" --split test --json | tee "$work/test-float32.json"
dlkit quantize "$work/captioner" -o "$work/captioner-int8" --json | tee "$work/quantize.json"
dlkit evaluate-captioner "$data" --model "$work/captioner-int8" --split test --json | tee "$work/test.json"
dlkit evaluate-captioner "$data" --model "$work/captioner-int8" --split test --beam-size 1 --json \
  | tee "$work/test-greedy.json"
dlkit caption --model "$work/captioner-int8" "$shared/data/photos" --json | tee "$work/photos.jsonl"
dlkit caption --model "$work/captioner-int8" "$shared/data/photos/horse.png" \
  --attention-map "$here/attention-horse.png"
cp "$work/captioner.curves.png" "$here/training-curves.png"
python - "$work" <<'PY'
import json, sys
from dlkit.core import modelio, twins
work = sys.argv[1]
test, full, greedy, train = (json.load(open(f"{work}/{name}.json"))
                             for name in ("test", "test-float32", "test-greedy", "train"))
metrics = {"split": "flickr8k test (1,000 images)", "beam_size": test["beam_size"],
           **{f"bleu{n}": test[f"bleu{n}"] for n in range(1, 5)}, "bleu4_float32": full["bleu4"],
           "bleu4_greedy": greedy["bleu4"], "epochs": train["epochs"], "train_seconds": train["seconds"]}
# the int8 copy's ONNX twin (what inference runs), made when it was first evaluated
twin = twins.load(f"{work}/captioner-int8/model.keras", ("encoder", "step"))["encoder"].metadata
metrics["twin"] = {key: twin[key] for key in ("max_difference", "tolerance")}
modelio.ship(f"{work}/captioner-int8", "captioner-flickr8k", "captioner", "captioner", metrics,
             "bash tasks/captioner/recipe.sh")
PY
