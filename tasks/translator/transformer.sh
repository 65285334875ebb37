#!/usr/bin/env bash
# Trains the Transformer translator on Tatoeba (fra.txt) plus the news and health
# sentences of news_en_fr/train.tsv, then scores it and the shipped recurrent translator
# on the two validations of issue #31 (WMT newstest2014, and the held-out Tatoeba split:
# English sentences that are in no training pair) and times both on 1,000 held-out
# sentences.
#   bash tasks/translator/transformer.sh [WORK_DIR] [EPOCHS]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
shared="${DLKIT_SHARED:-$here/../../../shared}/data"
work="${1:-runs/transformer}"
epochs="${2:-8}"
mkdir -p "$work"

# Both corpora in one pairs file; the split hashes the English sentence, so Tatoeba's
# held-out sentences are the same ones the recurrent translator was scored on.
cut -f1,2 "$shared/anki/fra.txt" > "$work/pairs.tsv"
cut -f1,2 "$shared/news_en_fr/train.tsv" >> "$work/pairs.tsv"

dlkit train-translator "$work/pairs.tsv" -o "$work/en-fr" --arch transformer --vocab-size 8000 \
  --embedding-dim 256 --heads 4 --feed-forward 1024 --encoder-layers 4 --decoder-layers 2 --max-length 96 \
  --learning-rate 0.001 --warmup-steps 2000 --epochs "$epochs" --patience 3 --batch-size 64 --seed 0 --json \
  | tee "$work/train.json"
dlkit quantize "$work/en-fr" -o "$work/en-fr-int8" --json | tee "$work/quantize.json"
for model in "$work/en-fr-int8" shipped; do
  name=$(basename "$model")
  option=(); [ "$model" = shipped ] || option=(--model "$model")
  dlkit evaluate-translator "$shared/news_en_fr/newstest2014.tsv" --split all "${option[@]}" --json \
    | tee "$work/newstest-$name.json"
  dlkit evaluate-translator "$shared/anki/fra.txt" "${option[@]}" --json | tee "$work/tatoeba-$name.json"
done
python "$here/benchmark.py" --model "$work/en-fr-int8" --against shipped --sentences 1000 --rounds 2 \
  | tee "$work/speed.txt"
