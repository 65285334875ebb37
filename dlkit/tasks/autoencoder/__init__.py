"""Autoencoders on images: dense or convolutional, plain or denoising; their
reconstruction error per image (an anomaly score) and their bottleneck codes (features).

    from dlkit.tasks import autoencoder
    run = autoencoder.train(["digits/train"], "ae.keras", autoencoder.Config(noise=0.5))
    for record in autoencoder.load("ae.keras", noise=0.5).predict(["digits/test/7/09000.png"]):
        print(record)   # {"input", "error_mse", "noisy_input_mse"}
    autoencoder.evaluate(["digits/test"], "ae.keras", noise=0.5)   # mean errors

The saved .keras model takes raw RGB pixels (0..255) and holds a sub-model named
"encoder" (pixels to bottleneck code), so `dlkit extract-features --model ae.keras`
turns images into codes without knowing this task.

Modules: config (settings, no TensorFlow), model (networks, train), predict (load,
evaluate, the grid picture: no TensorFlow; the network runs on its ONNX twin), twin
(writing that twin).
"""

from dlkit.core.task import Argument, Evaluate, Fields, Predict, Task, Train, lazy_exports
from dlkit.tasks.autoencoder.config import Config, GridConfig, ReconstructConfig

MODEL_HELP = "A .keras autoencoder trained with dlkit train-autoencoder."

TASK = Task(
    name="autoencoder",
    summary="Autoencoders: reconstruction errors and codes of images.",
    config=Config,
    train=Train(
        command="train-autoencoder",
        summary="Train a (denoising) autoencoder on images: dense or convolutional.",
        function="dlkit.tasks.autoencoder.model:train",
        data=Argument("images", many=True),
        output="Where to save the trained .keras model (a training-curve PNG goes beside it).",
        patience=3,
        help="""Train an autoencoder on IMAGES (files, globs, folders: class folders or not).

    A folder split into train/ and validation/, val/ or test/ (what import-mnist
    writes) trains on train/ and validates on the other; otherwise --val-split of the
    images is held out. With --denoise NOISE the inputs are corrupted with Gaussian
    noise (pixels 0..1, clipped) and the model learns to give back the clean images.
    Grey images (R = G = B) give a grey model. Prints one JSON summary (the validation
    reconstruction errors) and writes OUTPUT plus a training-curve PNG beside it.
    Rerun with --resume after an interruption.

    \b
    Examples:
      dlkit import-mnist ../shared/data/mnist digits/
      dlkit train-autoencoder digits/ -o ae.keras
      dlkit train-autoencoder digits/ --denoise 0.5 --bottleneck 32 -o dae.keras
      dlkit train-autoencoder photos/ --arch conv --image-size 64 -o photos-ae.keras
      dlkit reconstruct --model dae.keras digits/test --noise 0.5 -o grid.png
      dlkit extract-features digits/train --model dae.keras -o codes.npz
    """),
    predict=(Predict(
        command="reconstruct",
        summary="Reconstruct images with an autoencoder: a grid picture and each image's error.",
        load="dlkit.tasks.autoencoder.predict:load",
        run="dlkit.tasks.autoencoder.predict:reconstruct",
        options=(Fields(ReconstructConfig),),
        run_options=(Fields(GridConfig),),
        columns={"input": None, "error_mse": None, "noisy_input_mse": None},
        model="required",
        model_help=MODEL_HELP,
        help="""Reconstruct INPUTS (image files, globs, folders, - for paths on stdin) with an
    autoencoder.

    Each image gets a record {"input", "error_mse"}: the mean squared difference
    between the image (pixels 0..1) and its reconstruction, an anomaly score. With
    --noise, the input is corrupted first and the record adds "noisy_input_mse", the
    corrupted input's own error: a denoising model's error_mse is below it. A bad
    image gets an error record and the rest go on (exit code 1 at the end).

    \b
    Examples:
      dlkit reconstruct --model ae.keras digits/test -o grid.png
      dlkit reconstruct --model dae.keras digits/test --noise 0.5 -o denoised.png
      dlkit reconstruct --model ae.keras scans/ --json | jq -s 'sort_by(-.error_mse) | .[:10]'
    """),),
    evaluate=Evaluate(
        command="evaluate-autoencoder",
        summary="Mean reconstruction error of an autoencoder on images.",
        function="dlkit.tasks.autoencoder.predict:evaluate",
        data=Argument("images", many=True),
        options=(Fields(ReconstructConfig, only=("noise", "seed")),),
        model="required",
        model_help=MODEL_HELP,
        help="""The mean reconstruction error of an autoencoder over IMAGES (files, globs,
    folders); with --noise, that of the corrupted inputs too. Unusable images are left
    out and counted.

    \b
    Example:
      dlkit evaluate-autoencoder digits/test --model dae.keras --noise 0.5
    """),
)

__getattr__ = lazy_exports(__name__, {
    "train": "model", "load": "predict", "evaluate": "predict", "reconstruct": "predict", "Autoencoder": "predict",
    "write_grid": "predict",
})
