"""Captions guided by the ImageNet classifier against the decoder alone (the shipped
captioner): the share of cats_and_dogs validation photos whose caption names their
animal, and Flickr8k test BLEU-1..4, for each guide threshold given.

    python tasks/captioner/guided.py                       # the default threshold
    python tasks/captioner/guided.py --thresholds 0.2,0.3,0.5 --photos 250

Prints one JSON line per setting ("off": unguided).
"""

import argparse
import glob
import json
import os
import re
import time

SHARED = os.environ.get("DLKIT_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared"))
ANIMALS = {"cats": {"cat", "cats", "kitty"}, "dogs": {"dog", "dogs", "puppy", "puppies"}}


def named(captions, words) -> float:
    return sum(bool(words & set(re.findall(r"[a-z]+", c.text.lower()))) for c in captions) / len(captions)


def main() -> None:
    from dlkit.tasks.captioner.config import Config
    from dlkit.tasks.captioner.model import evaluate
    from dlkit.tasks.captioner.predict import load

    parser = argparse.ArgumentParser()
    parser.add_argument("--thresholds", default=str(Config.guide_threshold), help="comma-separated guide thresholds")
    parser.add_argument("--photos", type=int, default=250, help="cat photos and dog photos, each")
    args = parser.parse_args()
    photos = {kind: sorted(glob.glob(os.path.join(SHARED, "data", "cats_and_dogs", "validation", kind, "*.jpg")))
              [:args.photos] for kind in ANIMALS}
    flickr = os.path.join(SHARED, "data", "flickr8k")
    settings = [("off", None)] + [(float(t), float(t)) for t in args.thresholds.split(",")]
    for name, threshold in settings:
        captioner = load(guide=threshold is not None, guide_threshold=threshold)
        record = {"guide_threshold": name}
        start = time.perf_counter()
        captions = {kind: captioner.captions(paths) for kind, paths in photos.items()}
        seconds = time.perf_counter() - start
        for kind, found in captions.items():
            record[f"{kind}_named"] = round(named(found, ANIMALS[kind]), 3)
            other = ANIMALS["dogs" if kind == "cats" else "cats"]
            record[f"{kind}_called_{'dogs' if kind == 'cats' else 'cats'}"] = round(named(found, other), 3)
        record["photos_per_s"] = round(sum(map(len, photos.values())) / seconds, 1)
        scores = evaluate(flickr, captioner, split="test")
        record.update({k: round(v, 4) for k, v in scores.items() if k.startswith("bleu")})
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
