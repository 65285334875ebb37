#!/usr/bin/env bash
# Trains the shipped English->French translator on fra.txt, scores it on the held-out test
# split (sentences it never trained on), stores its Dense/Embedding weights as int8 (the
# shipped copy) and scores that too, and trains the keras.io character-level baseline
# for the same wall-clock time on the same split.
#   bash tasks/translator/recipe.sh [WORK_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
data="${DLKIT_SHARED:-$here/../../../shared}/data/anki/fra.txt"
work="${1:-runs/translator}"
mkdir -p "$work"

dlkit train-translator "$data" -o "$work/en-fr" --vocab-size 4000 --embedding-dim 128 --units 256 \
  --epochs 5 --patience 2 --batch-size 64 --seed 0 --json | tee "$work/train.json"
dlkit evaluate-translator "$data" --model "$work/en-fr" --json | tee "$work/test.json"
dlkit quantize "$work/en-fr" -o "$work/en-fr-int8" --json | tee "$work/quantize.json"
dlkit evaluate-translator "$data" --model "$work/en-fr-int8" --json | tee "$work/test-int8.json"
seconds=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['seconds'])" "$work/train.json")
python "$here/baseline.py" "$data" --seconds "$seconds" | tee "$work/baseline.json"
for s in "I am hungry." "Where is the station?" "I don't know what to do." "She bought a new car yesterday."; do
  dlkit translate --model "$work/en-fr-int8" --json "$s"
done | tee "$work/examples.jsonl"
dlkit translate --model "$work/en-fr-int8" "I don't know what to do." --attention-map "$here/attention.png"
# ship the int8 copy with its held-out scores
python - "$work" <<'PY'
import json, sys
from dlkit.core import modelio, twins
work = sys.argv[1]
test, full, train = (json.load(open(f"{work}/{name}.json")) for name in ("test-int8", "test", "train"))
metrics = {"split": f"fra.txt held-out test ({test['sentences']} English sentences)", "beam_size": test["beam_size"],
           "bleu": test["bleu"], "chrf": test["chrf"], "bleu_float32": full["bleu"], "epochs": train["epochs"],
           "train_seconds": train["seconds"]}
# the int8 copy's ONNX twin (what inference runs), made when it was first evaluated
twin = twins.load(f"{work}/en-fr-int8/model.keras", ("encoder", "step"))["encoder"].metadata
metrics["twin"] = {key: twin[key] for key in ("max_difference", "tolerance")}
modelio.ship(f"{work}/en-fr-int8", "translator-en-fr", "translator-en-fr", "translator", metrics,
             "bash tasks/translator/recipe.sh")
PY
