"""Ships the ONNX twin of the MobileNetV2 ImageNet classifier, so that `dlkit classify`
runs without TensorFlow: pretrained/mobilenet_v2/model.onnx and its manifest entry.

    python tasks/classifier/ship_imagenet.py [--flickr 200]

The network is Keras' MobileNetV2 with its preprocessing (it takes RGB pixels 0..255),
with the weights in ../shared/keras (a float32 conversion of Google's quantized
MobileNetV2 TFLite model, Apache-2.0: ../shared/keras/README.md), read from a writable
copy of that folder as the tests read it. The twin is checked against Keras as every
twin is (dlkit.export.write_twin), then both label the same real photos (the shared
photos and the first --flickr images of Flickr8k's test split), and the manifest
records their top-1 agreement and largest probability difference. Prints the entry.
"""

import argparse
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("DLKIT_SHARED", os.path.join(ROOT, "..", "shared"))
NAME, FOLDER, BACKBONE = "mobilenet_v2-imagenet", "mobilenet_v2", "mobilenet_v2"
PROVENANCE = ("MobileNetV2 1.0 ImageNet weights converted from Google's quantized MobileNetV2 TFLite model "
              "(google-coral test_data, Apache-2.0), as in ../shared/keras")


def photos(flickr: int) -> list[str]:
    """The shared photos, then the first `flickr` images of Flickr8k's test split."""
    folder = os.path.join(SHARED, "data", "photos")
    shared = sorted(os.path.join(folder, name) for name in os.listdir(folder) if not name.endswith(".txt"))
    images = os.path.join(SHARED, "data", "flickr8k")
    with open(os.path.join(images, "Flickr_8k.testImages.txt")) as f:
        names = [line.strip() for line in f if line.strip()][:flickr]
    return shared + [os.path.join(images, "Images", name) for name in names]


def agreement(paths: list[str], keras_network, graph, size: int, batch: int = 32) -> dict:
    """Top-1 agreement and the largest |probability difference| of the Keras network and
    the twin on the same decoded photos."""
    import numpy as np

    from dlkit.vision.images import load_image

    same, worst = 0, 0.0
    for start in range(0, len(paths), batch):
        images = np.stack([load_image(p, size) for p in paths[start:start + batch]])
        expected, got = keras_network(images), graph.run(images)[0]
        same += int((expected.argmax(1) == got.argmax(1)).sum())
        worst = max(worst, float(np.abs(expected - got).max()))
    return {"top1_agreement": round(same / len(paths), 6), "max_probability_difference": float(f"{worst:.3g}")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flickr", type=int, default=200, help="Flickr8k test images to compare on.")
    args = parser.parse_args()
    sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]  # this checkout's dlkit, and tests/keras_home.py
    import keras_home  # tests/keras_home.py: a writable copy of ../shared/keras
    from pathlib import Path

    home = tempfile.mkdtemp(prefix="dlkit-keras-")
    keras_home.seed(Path(SHARED) / "keras", Path(home))
    os.environ["KERAS_HOME"] = home

    from dlkit.core import files, modelio, twins
    from dlkit.tasks.classifier import predict
    from dlkit.vision import imagenet_twin

    folder = os.path.join(modelio.CHECKOUT_PRETRAINED, FOLDER)
    os.makedirs(folder, exist_ok=True)
    start = time.perf_counter()
    checked = imagenet_twin.write_imagenet(BACKBONE, os.path.join(folder, "model.onnx"), provenance=PROVENANCE)
    print(f"converted in {time.perf_counter() - start:.1f} s: {checked}", file=sys.stderr)

    paths = photos(args.flickr)
    keras_network = predict.load(None, runtime="keras").network
    graph = twins.Graph(os.path.join(folder, "model.onnx"))
    scores = agreement(paths, keras_network, graph, graph.metadata["input_size"])
    metrics = {"compared_on": f"{len(paths) - args.flickr} shared photos and the first {args.flickr} images of "
                              f"Flickr8k's test split", **scores, "twin": checked}
    entry = {"name": NAME, "file": FOLDER, "sha256": files.sha256(folder), "task": "classifier", "metrics": metrics,
             "provenance": PROVENANCE, "source": "python tasks/classifier/ship_imagenet.py"}
    manifest = os.path.join(modelio.CHECKOUT_PRETRAINED, "manifest.json")
    entries = files.read_json(manifest, "manifest")  # read now: other models' entries may have changed
    entries["models"] = [m for m in entries["models"] if m["name"] != NAME] + [entry]
    files.write_json(manifest, entries)
    print(json.dumps(entry))


if __name__ == "__main__":
    main()
