"""The settings of an autoencoder: every default with why it is the default; the options
of `dlkit train-autoencoder` are made from them. TF-free."""

from dataclasses import dataclass

from dlkit.core.config import setting, validate
from dlkit.core.errors import DlkitError

ARCHS = ("dense", "conv")
COLORS = ("auto", "grey", "rgb")
# The saved model's parts besides the encoder (dlkit.vision.encoders.ENCODER): the
# "pixels" sub-model at the encoder's start, and the decoder.
PIXELS, DECODER = "pixels", "decoder"
# Images are resized (aspect not kept) to a square this side at most when no
# --image-size is given: an autoencoder on raw pixels grows with their number, and 64 px
# keeps a photo recognisable while a CPU trains it in minutes.
MAX_DEFAULT_SIZE = 64


@dataclass
class Config:
    # dense: the classic fully connected autoencoder (fast, fine for 28 px digits);
    # conv: strided convolutions down and transposed convolutions up, which keep the
    # spatial layout and suit photos.
    arch: str = setting("dense", "dense: fully connected layers; conv: strided convolutions and transposed "
                        "convolutions.", choices=ARCHS)
    # 32 numbers per image: small enough to force a summary (784 MNIST pixels -> 32), large
    # enough that digits stay legible and the codes separate the classes.
    bottleneck: int = setting(32, "Size of the code each image is squeezed through.", min=1)
    # Width of the dense model's hidden layer on each side of the code (the conv model's
    # filters are 32 and 64): 256 is the usual MNIST autoencoder's.
    hidden: int = setting(256, "Units of the dense model's hidden layer each side of the code.", min=1)
    # Denoising (Vincent et al., 2008): inputs corrupted with Gaussian noise of this
    # standard deviation (pixels scaled to 0..1, the result clipped to 0..1), fresh
    # noise each epoch, trained to give back the clean image. 0: a plain autoencoder.
    noise: float = setting(0.0, "Denoising: train on inputs with Gaussian noise of this std (pixels 0..1, "
                           "clipped), to reconstruct the clean images; 0: a plain autoencoder.",
                           flags=("--denoise",), min=0, max=1)
    # None: the first training image's larger side, at most MAX_DEFAULT_SIZE (28 for
    # MNIST); every image is resized to this square. The conv model halves it twice, so
    # it is rounded up to a multiple of 4 there.
    image_size: int | None = setting(None, f"Square size images are resized to [default: the first image's larger "
                                     f"side, at most {MAX_DEFAULT_SIZE}; a multiple of 4 for conv].", min=4)
    # auto: grey when every training image has R = G = B (MNIST, scans), else RGB; a grey
    # model still takes RGB files and turns them to grey inside itself.
    color: str = setting("auto", "grey or rgb reconstructions [default: grey when every training image is grey].",
                         choices=COLORS)
    # Pixels are 0..1 and the output a sigmoid: the mean squared error is the
    # reconstruction error the records report, so the loss is what is measured.
    epochs: int = setting(20, min=1)
    batch_size: int = setting(128, min=1, flags=("-b", "--batch-size"))
    # Adam's usual step; autoencoders on pixels train stably with it.
    learning_rate: float = setting(1e-3, min=0, min_open=True, aliases=("--lr",))
    # Share of the images held out for validation (early stopping and the reported
    # errors) when IMAGES is not a split layout (train/ plus validation/, val/ or test/).
    val_split: float = setting(0.1, "Share of IMAGES held out for validation, unless IMAGES is split into "
                               "train/ and validation/, val/ or test/.", min=0, max=0.5, min_open=True)
    # Which images are held out: fixed apart from --seed, so runs compare on the same images.
    split_seed: int = setting(0, cli=False)


@dataclass
class ReconstructConfig:
    # 0: plain reconstruction; a denoising model is judged on inputs as noisy as its training's.
    noise: float = setting(0.0, "Corrupt each image with Gaussian noise of this std (pixels 0..1, clipped) "
                           "before reconstructing it.", min=0, max=1)
    # Fixed: reruns corrupt alike, so their errors compare.
    seed: int = setting(0, "Seed of the noise: reruns corrupt alike.")
    batch_size: int = setting(64, min=1, flags=("-b", "--batch-size"))


@dataclass
class GridConfig:
    # The picture is what shows a denoiser at work; written only when asked.
    grid: str | None = setting(None, "Also draw the first --grid-images images, corrupted and reconstructed, "
                               "to this PNG.", flags=("-o", "--output"), output=(".png",))
    grid_images: int = setting(16, "How many images the grid shows (the first ones).", min=1)


def check(config: Config) -> Config:
    """The field checks, then the sizes the conv model cannot take."""
    validate(config)
    if config.arch == "conv" and config.image_size is not None and config.image_size % 4:
        raise DlkitError(f"--arch conv halves the image twice: --image-size must be a multiple of 4, "
                         f"not {config.image_size}")
    return config


def default_size(width: int, height: int, arch: str) -> int:
    """The square size for images whose first is width x height (see image_size)."""
    size = min(MAX_DEFAULT_SIZE, max(width, height, 4))
    return -(-size // 4) * 4 if arch == "conv" else size
