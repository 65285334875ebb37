"""Autoencoders on MNIST: reconstruction errors (clean and noisy inputs; dense vs conv,
plain vs denoising) and a linear SVM on their bottleneck codes against one on raw pixels.

    flock /tmp/dlkit-train.lock python tasks/autoencoder/recipe.py        # ~10 min on 2 CPU cores
    python tasks/autoencoder/recipe.py --only dense-denoise                 # one model

Data: ../shared's 10,000 MNIST digits through `dlkit import-mnist` (the last 2,000 are
test/, the first 8,000 train/). Each model is trained with `dlkit train-autoencoder` on
train/ (10% of it held out for early stopping: test/ is never seen), scored with
`dlkit reconstruct` on test/ without and with noise, and its codes
(`dlkit extract-features --model`) fed to `dlkit train-svm` (train/ codes, test/ codes
held out). The raw-pixel SVM is the same `dlkit train-svm` on the 784 pixels (0..1)
written as a features file: extract-features has no raw-pixel option. Results go to
tasks/autoencoder/results.json, example grids beside this file, models to --workdir.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
from recipes import dlkit  # noqa: E402

SHARED = os.environ.get("DLKIT_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
MNIST = os.path.join(SHARED, "data", "mnist")
NOISE = "0.5"  # std of the Gaussian noise (pixels 0..1, clipped) for denoising and noisy scores
COMMON = ["--bottleneck", "32", "--epochs", "30", "--patience", "3", "-b", "128", "--seed", "1"]
MODELS = {
    "dense": ["--arch", "dense"],
    "dense-denoise": ["--arch", "dense", "--denoise", NOISE],
    "conv": ["--arch", "conv"],
    "conv-denoise": ["--arch", "conv", "--denoise", NOISE],
}
# The example grids committed beside this README: (model, --noise, file).
GRIDS = [("dense-denoise", NOISE, "dense-denoise.png"), ("conv-denoise", NOISE, "conv-denoise.png"),
         ("conv", "0", "conv-clean.png")]


def records(*args: str) -> list[dict]:
    """Every JSON record a dlkit command writes (reconstruct: one per image)."""
    print("$ dlkit " + " ".join(args), file=sys.stderr, flush=True)
    result = subprocess.run([sys.executable, "-m", "dlkit", *args, "--json", "--quiet"], capture_output=True,
                            text=True, cwd=ROOT)
    if result.returncode != 0:
        sys.exit(f"dlkit {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def features(images: str, model: str, path: str) -> None:
    print(f"$ dlkit extract-features {images} --model {model} -o {path}", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "dlkit", "extract-features", images, "--model", model, "-o", path,
                    "--quiet"], check=True, cwd=ROOT)


def svm(train: str, test: str, folder: str) -> dict:
    summary = dlkit("train-svm", train, "--test", test, "-o", folder)
    return {"svm_test_accuracy": summary["test_accuracy"], "svm_cv_accuracy": summary["cv_accuracy"],
            "svm_C": summary["C"]}


def raw_pixels(folder: str, path: str) -> None:
    """A dlkit features file (extract-features' .npz layout) of the 784 pixels, 0..1."""
    classes = sorted(os.listdir(folder))
    paths = [os.path.join(folder, c, f) for c in classes for f in sorted(os.listdir(os.path.join(folder, c)))]
    rows = np.stack([np.asarray(Image.open(p).convert("L"), np.float32).ravel() / 255.0 for p in paths])
    labels = [os.path.basename(os.path.dirname(p)) for p in paths]
    with open(path, "wb") as f:
        np.savez(f, features=rows, paths=np.array(paths), labels=np.array(labels),
                 meta=np.array(json.dumps({"backbone": "raw-pixels", "layer": "pixels", "image_size": 28,
                                           "dimensions": rows.shape[1]})))


def run(name: str, workdir: str, digits: str) -> dict:
    model = os.path.join(workdir, f"{name}.keras")
    started = time.perf_counter()
    summary = dlkit("train-autoencoder", os.path.join(digits, "train"), "-o", model, *COMMON, *MODELS[name])
    wall = time.perf_counter() - started
    test = os.path.join(digits, "test")
    clean = records("reconstruct", "--model", model, test)
    noisy = records("reconstruct", "--model", model, test, "--noise", NOISE)
    record = {
        "model": name, "epochs": summary["epochs"], "train_images": summary["train_images"], "train_seconds": summary["seconds"], "wall_seconds": round(wall, 1),
        "test_mse_clean": round(float(np.mean([r["error_mse"] for r in clean])), 5),
        "test_mse_noisy": round(float(np.mean([r["error_mse"] for r in noisy])), 5),
        "noisy_input_mse": round(float(np.mean([r["noisy_input_mse"] for r in noisy])), 5),
        "size_kb": round(os.path.getsize(model) / 1e3),
        "command": f"dlkit train-autoencoder digits/train -o {name}.keras " + " ".join(COMMON + MODELS[name]),
    }
    for split in ("train", "test"):
        features(os.path.join(digits, split), model, os.path.join(workdir, f"{name}-{split}.npz"))
    record.update(svm(os.path.join(workdir, f"{name}-train.npz"), os.path.join(workdir, f"{name}-test.npz"),
                      os.path.join(workdir, f"{name}-svm")))
    for grid_model, noise, picture in GRIDS:
        if grid_model == name:
            records("reconstruct", "--model", model, os.path.join(test, "*", "0800*.png"), "--noise", noise,
                    "--grid-images", "8", "-o", os.path.join(HERE, picture))
    print(json.dumps(record), flush=True)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default="/tmp/dlkit-autoencoder")
    parser.add_argument("--only", choices=[*MODELS, "raw-pixels"], action="append")
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    digits = os.path.join(args.workdir, "digits")
    if not os.path.isdir(digits):
        dlkit("import-mnist", MNIST, digits, "--test-size", "2000")
    path = os.path.join(HERE, "results.json")
    results = json.load(open(path)) if os.path.exists(path) else {}
    for name in args.only or [*MODELS, "raw-pixels"]:
        if name == "raw-pixels":
            for split in ("train", "test"):
                raw_pixels(os.path.join(digits, split), os.path.join(args.workdir, f"raw-{split}.npz"))
            started = time.perf_counter()
            results[name] = {"model": name, **svm(os.path.join(args.workdir, "raw-train.npz"),
                                                  os.path.join(args.workdir, "raw-test.npz"),
                                                  os.path.join(args.workdir, "raw-svm")),
                             "svm_seconds": round(time.perf_counter() - started, 1)}
            print(json.dumps(results[name]), flush=True)
        else:
            results[name] = run(name, args.workdir, digits)
        with open(path, "w") as f:  # after each model: an interrupted run keeps what it measured
            json.dump(results, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
