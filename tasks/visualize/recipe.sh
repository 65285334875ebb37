#!/usr/bin/env bash
# Draws the figures of tasks/visualize/README.md from ../shared: MobileNetV2's first-layer
# filters, its activations and Grad-CAM / gradient heat-maps on the chelsea photo (a
# tabby cat), classify --saliency on a few photos, and a t-SNE map of MobileNetV2
# features of the cats_and_dogs validation set (1,000 photos). About 2 minutes on 2 CPU cores.
#   bash tasks/visualize/recipe.sh [WORK_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
shared="${DLKIT_SHARED:-$here/../../../shared}"
photos="$shared/data/photos"
work="${1:-runs/visualize}"
mkdir -p "$work"

dlkit visualize filters mobilenet_v2 -o "$work/filters.png" --json
dlkit visualize activations mobilenet_v2 "$photos/chelsea.png" --channels 6 -o "$work/activations.png" --json
dlkit visualize saliency "$photos/chelsea.png" -o "$work/gradcam-chelsea.png" --json | tee "$work/gradcam.json"
dlkit visualize saliency "$photos/chelsea.png" --method gradient -o "$work/gradient-chelsea.png" --json
dlkit visualize saliency "$photos/coffee.png" --class espresso -o "$work/gradcam-coffee.png" --json
dlkit classify "$photos/chelsea.png" "$photos/coffee.png" "$photos/rocket.jpg" -k 1 --saliency "$work/heatmaps" \
  --json | tee "$work/classify.jsonl"
dlkit extract-features "$shared/data/cats_and_dogs/validation" --image-size 160 -o "$work/validation.npz"
dlkit visualize features "$work/validation.npz" -o "$work/tsne-cats-dogs.png" --json

# The committed copies: 128-colour PNGs, a few tens of KB each.
python - "$work" "$here" <<'PY'
import os, sys
from PIL import Image
work, here = sys.argv[1:]
for name in ["filters.png", "activations.png", "gradcam-chelsea.png", "tsne-cats-dogs.png"]:
    with Image.open(os.path.join(work, name)) as im:
        im.convert("RGB").quantize(128, dither=Image.Dither.NONE).save(os.path.join(here, name), optimize=True)
    print(f"{name}: {os.path.getsize(os.path.join(here, name)) // 1024} KB", file=sys.stderr)
PY
