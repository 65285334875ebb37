#!/usr/bin/env bash
# Example stylizations and a fast stylizer, with the loss network that works offline
# (mobilenet_v2; on a machine with internet, VGG19 is the default and usually prettier).
#   bash tasks/stylize/recipe.sh [WORK_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
data="${DLKIT_SHARED:-$here/../../../shared}/data"
work="${1:-runs/stylize}"
examples="$here/examples"
mkdir -p "$work" "$examples"
style="$data/style/style"
content="$data/style/content"

dlkit stylize "$content/chelsea.png" "$style/starry-night.jpg" --backbone mobilenet_v2 --size 384 \
  --seed 0 -o "$examples/chelsea-starry.jpg" --json
dlkit stylize "$content/amber.jpg" "$style/candy.jpg" "$style/mosaic.jpg" --style-weights 0.6,0.4 \
  --backbone mobilenet_v2 --size 384 --seed 0 -o "$examples/amber-candy-mosaic.jpg" --json
dlkit stylize "$content/coffee.png" "$style/udnie.jpg" --preserve-color --backbone mobilenet_v2 --size 384 \
  --seed 0 -o "$examples/coffee-udnie-preserve-color.jpg" --json

# A fast stylizer trained on Flickr8k photos (any photos will do).
dlkit train-stylizer "$style/mosaic.jpg" --images "$data/flickr8k/Images" --backbone mobilenet_v2 \
  --steps 800 --steps-per-epoch 100 --image-size 192 -b 4 --seed 0 -o "$work/mosaic.keras" --json
dlkit stylize "$content/chelsea.png" "$content/astronaut.png" --model "$work/mosaic.keras" --size 384 \
  -o "$work/fast/" --json
cp "$work/fast/chelsea.jpg" "$examples/chelsea-fast-mosaic.jpg"
cp "$work/fast/astronaut.jpg" "$examples/astronaut-fast-mosaic.jpg"
cp "$work/mosaic.curves.png" "$examples/fast-mosaic-curves.png"
