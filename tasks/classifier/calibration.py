"""How well a transfer-learned classifier's scores match its accuracy: trains on the first
N photos a class of cats_and_dogs/train (or takes --model), then scores the 1,000
photos of cats_and_dogs/validation with the model's ONNX twin and prints one JSON line:
accuracy, expected calibration error (15 equal-width bins of the top score, Guo et al.
2017), mean top score, log-loss, and how many probabilities are pinned at exactly 0 or 1
as the records show them (6 decimals).

    python tasks/classifier/calibration.py --photos 60 --out /tmp/calib
    python tasks/classifier/calibration.py --photos 60 --fine-tune-epochs 1 --out /tmp/calib-ft
    python tasks/classifier/calibration.py --model pets.keras
"""

import argparse
import json
import os
import tempfile

import numpy as np

SHARED = os.environ.get("DLKIT_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared"))
PETS = os.path.join(SHARED, "data", "cats_and_dogs")


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Sum over equal-width bins of the top score of |accuracy - mean top score| times
    the bin's share of the images."""
    confidence, right = probabilities.max(1), probabilities.argmax(1) == labels
    edges = np.linspace(0, 1, bins + 1)
    error = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            error += inside.mean() * abs(right[inside].mean() - confidence[inside].mean())
    return float(error)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", help="a trained .keras classifier of cats and dogs (no training)")
    parser.add_argument("--photos", type=int, default=60, help="training photos a class")
    parser.add_argument("--fine-tune-epochs", type=int, default=0)
    parser.add_argument("--out", default=None, help="folder for the training data links and the model")
    args = parser.parse_args()
    model = args.model or train(args.photos, args.fine_tune_epochs, args.out or tempfile.mkdtemp())

    from dlkit.tasks.classifier import load
    from dlkit.tasks.classifier.training import load_folder

    classifier = load(model)
    images = load_folder(os.path.join(PETS, "validation"), classifier.input_size, classifier.labels)
    probabilities = np.concatenate([classifier.outputs(images.images[i:i + 64]) for i in range(0, len(images), 64)])
    shown = np.round(probabilities, 6)
    labels = images.labels
    print(json.dumps({
        "model": model, "validation_images": len(labels),
        "accuracy": round(float((probabilities.argmax(1) == labels).mean()), 4),
        "ece": round(expected_calibration_error(probabilities, labels), 4),
        "mean_top_score": round(float(probabilities.max(1).mean()), 4),
        "log_loss": round(float(-np.log(np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, 1)).mean()), 4),
        "pinned": int(((shown == 0) | (shown == 1)).any(1).sum()),
    }))


def train(photos: int, fine_tune_epochs: int, out: str) -> str:
    """The model trained on the first `photos` of each class (links under `out`)."""
    from dlkit.core.training import TrainConfig
    from dlkit.tasks.classifier import TrainClassifierConfig, train as train_classifier

    data = os.path.join(out, "pets")
    for kind in ("cats", "dogs"):
        os.makedirs(os.path.join(data, kind), exist_ok=True)
        for name in sorted(os.listdir(os.path.join(PETS, "train", kind)))[:photos]:
            target = os.path.join(data, kind, name)
            if not os.path.exists(target):
                os.symlink(os.path.join(PETS, "train", kind, name), target)
    model = os.path.join(out, "pets.keras")
    run = train_classifier(data, model, TrainClassifierConfig(fine_tune_epochs=fine_tune_epochs),
                           TrainConfig(seed=0))
    print(json.dumps(run.summary))
    return model


if __name__ == "__main__":
    main()
