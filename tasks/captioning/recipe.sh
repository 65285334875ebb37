#!/usr/bin/env bash
# Trains the shipped captioner on the Flickr8k training split (official split files),
# scores BLEU-1..4 on the official test split, and draws an attention map.
#   bash tasks/captioning/recipe.sh [WORK_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
shared="${DLKIT_SHARED:-$here/../../../shared}"
data="$shared/data/flickr8k"
work="${1:-runs/captioning}"
mkdir -p "$work"

dlkit train-captioner "$data" -o "$work/captioner" --epochs 15 --seed 0 --json | tee "$work/train.json"
dlkit evaluate-captioner "$data" --model "$work/captioner" --split test --json | tee "$work/test.json"
dlkit evaluate-captioner "$data" --model "$work/captioner" --split test --beam-size 1 --json \
  | tee "$work/test-greedy.json"
dlkit caption --model "$work/captioner" "$shared/data/photos" --json | tee "$work/photos.jsonl"
dlkit caption --model "$work/captioner" "$shared/data/photos/horse.png" --attention-map "$here/attention-horse.png"
