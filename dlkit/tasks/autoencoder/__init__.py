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

Modules: config (settings, no TensorFlow), model (networks, train, load, evaluate, the
grid picture), cli.
"""

from dlkit.core.task import lazy_exports

# command: summary shown by `dlkit --help`; the commands live in .cli
COMMANDS = {
    "train-autoencoder": "Train a (denoising) autoencoder on images: dense or convolutional.",
    "reconstruct": "Reconstruct images with an autoencoder: a grid picture and each image's error.",
}

__getattr__ = lazy_exports(__name__, {
    "Config": "config", "train": "model", "load": "model", "evaluate": "model", "Autoencoder": "model",
    "write_grid": "model",
})
