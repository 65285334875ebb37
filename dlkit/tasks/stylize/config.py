"""Style transfer's settings: the optimisation (StylizeConfig) and the fast stylizer's
training (StylizerConfig). No TensorFlow here: the commands' options are made from them."""

from dataclasses import dataclass

from dlkit.core.config import setting

# A pseudo-layer: the network's (preprocessed) input pixels, whose Gram matrix carries
# the style's palette.
PIXELS = "pixels"

# Content and style layers per backbone. VGG: the classic choice of Gatys et al.
# (conv1_1 ... conv5_1 for style, conv5_2 for content); MobileNetV2: the expanded
# activations at matching depths (1/2 ... 1/16 resolution). Non-VGG networks also match
# the pixels' Gram matrix: without it their losses fall while the photo keeps its colours.
LAYERS = {
    "vgg19": (["block5_conv2"], ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"]),
    "vgg16": (["block4_conv2"], ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"]),
    "mobilenet_v2": (["block_13_expand_relu"],
                     [PIXELS, "Conv1_relu", "block_1_expand_relu", "block_3_expand_relu", "block_6_expand_relu",
                      "block_13_expand_relu"]),
    "resnet50": (["conv4_block6_out"],
                 [PIXELS, "conv1_relu", "conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out"]),
    "efficientnet_b0": (["block5c_add"],
                        [PIXELS, "stem_activation", "block2b_add", "block3b_add", "block4c_add", "block6d_add"]),
}
OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "style", "noise")


@dataclass
class StylizeConfig:
    # VGG19 is the classic, best-looking loss network; it needs its ImageNet download.
    backbone: str = setting("vgg19", "Loss network: vgg19 is the classic look (an 80 MB download); mobilenet_v2 "
                            "needs 9 MB and runs faster.", choices=tuple(LAYERS))
    # None: the backbone's defaults in LAYERS.
    content_layers: tuple[str, ...] | None = setting(None, "Comma-separated layer names [default: per backbone].")
    style_layers: tuple[str, ...] | None = setting(None, "Comma-separated layer names ('pixels' = the image "
                                                   "itself).")
    # Softmax-smoothed activations before the Gram matrices (after Wang et al., CVPR 2021,
    # "SWAG", proposed for ResNets). Off by default: on MobileNetV2 it painted noisier
    # pictures than the plain Grams plus the pixel Gram (tasks/stylize/README.md).
    smooth: bool = setting(False, "Softmax-smooth activations before the Gram matrices (SWAG).")
    # L-BFGS reaches a given loss in far fewer evaluations than gradient descent.
    optimizer: str = setting("lbfgs", choices=OPTIMIZERS)
    # Gradient pairs L-BFGS remembers: more pairs, better steps; its own cost per step
    # grows with this times the pixels (20 pairs: ~5 ms at 256 px, a tenth of an evaluation).
    lbfgs_memory: int = setting(20, min=1, cli=False)
    # Function evaluations in all; most are spent at the coarse, cheap scales.
    iterations: int = setting(200, "Loss evaluations in all (most at the coarse scales).", min=1)
    # Longest side of the output, in pixels.
    size: int = setting(512, "Longest side of the output.", min=16)
    # Beyond this, ask the user to confirm with a larger --max-size, instead of
    # running out of memory half-way (activations grow with the pixel count).
    max_size: int = setting(2048, "Refuse larger --size (memory grows with the pixel count).", min=16)
    # Scales, coarse to fine: each halving quarters the cost of an evaluation, and the
    # coarse result gives the fine scales a head start. None: halve while the coarsest
    # stays at least `coarsest` px (below that, the loss network sees too little).
    scales: int | None = setting(None, "Coarse-to-fine levels, each twice the size of the previous "
                                 "[default: as many as keep the coarsest at 256 px or more].", min=1, max=6)
    coarsest: int = setting(256, min=16, cli=False)
    # Losses are relative (each divided by its target's energy), so weights read as
    # trade-offs: style counts 100x content by default.
    content_weight: float = setting(1.0, min=0)
    style_weight: float = setting(100.0, min=0)
    tv_weight: float = setting(1.0, min=0)
    init: str = setting("content", choices=INITS)
    # A blend of several styles; None: equal weights.
    style_weights: tuple[float, ...] | None = setting(None, "Blend several styles, e.g. 0.7,0.3.")
    preserve_color: bool = setting(False, "Keep the photo's colours (style on luminance only).",
                                   flags=("--preserve-color",))
    # Adam's step, in pixel units (0..255).
    learning_rate: float = setting(5.0, min=0, min_open=True, cli=False)
    seed: int | None = setting(None)
    # "imagenet", a weights file, or None for random weights (only to test code paths).
    weights: str | None = setting("imagenet", cli=False)


@dataclass
class StylizerConfig:
    # VGG16, as Johnson et al.; mobilenet_v2 has a fiftieth of its operations and a 9 MB
    # download: the one to try first on a CPU or offline.
    backbone: str = setting("vgg16", "Loss network: vgg16 as Johnson et al. (a 59 MB download); mobilenet_v2 "
                            "needs 9 MB and trains faster.", choices=tuple(LAYERS))
    # Training steps in all.
    steps: int = setting(2000, min=1)
    # Checkpoint (and report) every this many steps: an "epoch" of the training loop.
    steps_per_epoch: int = setting(100, "Steps between checkpoints and progress reports.", min=1)
    # Training crops.
    image_size: int = setting(256, min=32)
    batch_size: int = setting(4, min=1, flags=("-b", "--batch-size"))
    # 16/32/64 filters (Johnson et al. use 32/64/128): 4x fewer operations, so a 512 px
    # photo takes well under a second on a CPU; quality is close at these sizes.
    width: int = setting(16, "Filters of the first layer (Johnson et al.: 32).", min=4)
    residual_blocks: int = setting(5, min=0, cli=False)
    learning_rate: float = setting(1e-3, min=0, min_open=True, aliases=("--lr",))
    content_weight: float = setting(1.0, min=0)
    style_weight: float = setting(10.0, min=0)
    tv_weight: float = setting(1.0, min=0)
    # The style image's longest side when taking its Grams.
    style_size: int = setting(256, min=16, cli=False)
    # Set from the training run's --seed.
    seed: int | None = setting(None, cli=False)
    weights: str | None = setting("imagenet", cli=False)
    smooth: bool = setting(False, cli=False)


@dataclass
class TrainData:
    # Any photos do: the network learns to paint content it has not seen.
    images: str = setting(None, "Folder of training photos (any content; e.g. Flickr8k or COCO images).",
                          path="dir")
