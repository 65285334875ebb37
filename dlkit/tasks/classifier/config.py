"""The classifier's settings: labelling photos (ClassifyConfig) and training a classifier
(TrainClassifierConfig). No TensorFlow here: the commands' options are made from them."""

from dataclasses import dataclass

from dlkit.core.config import setting, validate
from dlkit.core.errors import DlkitError
from dlkit.vision.backbones import BACKBONES, DEFAULT

CLASSIC = ("lenet5", "alexnet", "vgg", "resnet")
ARCHITECTURES = (*BACKBONES, *CLASSIC)
OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "step", "exponential", "plateau")
# Convolutions per stage of each depth, as in the papers.
VGG_BLOCKS = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
RESNET_BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


# ---- Labelling photos ------------------------------------------------------------------

@dataclass
class ClassifyConfig:
    # Five labels is the ImageNet convention, and enough to see the runner-up classes.
    top_k: int = setting(5, "How many labels to report per image.", min=1, flags=("-k", "--top-k"))
    # MobileNetV2: ImageNet top-1 ~72% at ~300 MFLOPs an image, so it runs well on a CPU.
    backbone: str = setting(DEFAULT, "ImageNet network to use.", choices=tuple(BACKBONES))
    # A local weights file for the backbone instead of the ImageNet download: converted
    # to an ONNX twin once (where TensorFlow is installed), kept beside it.
    weights: str | None = setting(None, "Load the backbone's weights from this file instead of the ImageNet "
                                  "download.")
    # 32 images keeps both a CPU's cores and a GPU busy without holding many decoded photos.
    batch_size: int = setting(32, min=1, flags=("-b", "--batch-size"))


# ---- Training --------------------------------------------------------------------------

@dataclass
class TrainClassifierConfig:
    # None: DATA_DIR's own held-out split when it is a split layout (train/ plus
    # validation/, val/ or test/: dlkit.vision.folders), else val_split of DATA_DIR.
    val_dir: str | None = setting(None, "Validation images, in class folders like DATA_DIR [default: DATA_DIR's "
                                  "validation/, val/ or test/ split when it has train/, else split DATA_DIR].",
                                  path="dir")
    # Held-out share of DATA_DIR for validation when no separate folder is given.
    val_split: float = setting(0.2, "Share of DATA_DIR held out for validation when --val-dir is not given.")
    # MobileNetV2: ImageNet features good enough for ~95% on cats vs dogs with a frozen
    # backbone, and light enough to train on a CPU.
    arch: str = setting(DEFAULT, "An ImageNet backbone (transfer learning) or a classic CNN trained from scratch.",
                        choices=ARCHITECTURES)
    # Head training with a frozen backbone converges within ~10 epochs; early stopping
    # ends it sooner when validation loss stops improving.
    epochs: int = setting(10, "Epochs of training (of the new head, for an ImageNet backbone).", min=1)
    # Epochs of fine-tuning the top of the backbone after the head; 0 skips it (it costs
    # ~3x a frozen epoch and helps most when the data differs from ImageNet).
    fine_tune_epochs: int = setting(0, "Then fine-tune the top of the backbone for this many epochs at a 100x "
                                    "lower rate.", min=0)
    # Share of the backbone's layers, from the top, unfrozen for fine-tuning: the
    # tutorial unfreezes MobileNetV2 from layer 100 of 154, about a third.
    fine_tune_fraction: float = setting(0.35, "Share of the backbone's layers, from the top, unfrozen for "
                                        "fine-tuning.", min=0, max=1, min_open=True)
    # Fine-tuning moves pretrained weights: 100x smaller steps (Adam 1e-5, as in Keras'
    # transfer-learning guide) adapt them without wrecking them.
    fine_tune_lr_factor: float = setting(0.01, min=0, min_open=True, cli=False)
    # None: the size a backbone's ImageNet weights were trained at (224; 160 halves the
    # work for ~1 point of accuracy), 28 for LeNet-5 (MNIST's size), 64 for AlexNet, 32
    # for VGG/ResNet (CIFAR's size, small enough to train from scratch on a CPU).
    image_size: int | None = setting(None, "Square input size [default: 224 for backbones, 28 LeNet-5, 64 AlexNet, "
                                     "32 VGG/ResNet].", min=8)
    # 32 fits a CPU's cache and is the usual default for small data sets.
    batch_size: int = setting(32, min=1, flags=("-b", "--batch-size"))
    # None: 1e-3 for Adam, 1e-2 for SGD, each optimizer's usual starting point.
    lr: float | None = setting(None, "Learning rate [default: 1e-3 Adam, 1e-2 SGD].", min=0, min_open=True,
                               flags=("--learning-rate",), aliases=("--lr",))
    # Adam needs no tuning; SGD with momentum is the classic recipe for CNNs from scratch.
    optimizer: str = setting("adam", "adam, or sgd with momentum 0.9.", choices=OPTIMIZERS)
    # Nesterov-free classical momentum, as in the AlexNet/VGG/ResNet papers.
    momentum: float = setting(0.9, min=0, cli=False)
    # plateau halves the rate when validation loss stalls for 2 epochs (before early
    # stopping's 3); step/exponential decay multiply it by decay_rate every decay_epochs.
    lr_schedule: str = setting("plateau", "plateau: halve when validation loss stalls 2 epochs; "
                               "step/exponential: x0.5 every 3 epochs.", choices=SCHEDULES)
    decay_epochs: int = setting(3, min=1, cli=False)
    decay_rate: float = setting(0.5, min=0, min_open=True, cli=False)
    # Random flips, rotations and zooms: more varied photos from the same files; off for
    # digits, where a flipped 2 is not a 2.
    augment: bool = setting(True, "Random flips, rotations and zooms of the training images.")
    # While the backbone is frozen its features are computed once and the head trains on
    # them: each training image gives its own features plus those of this many augmented
    # copies. None: 4 for up to 250 images, fewer above (1 from 1,000), so that a small
    # set still sees varied views and a large one costs about two backbone passes
    # instead of one per epoch.
    views: int | None = setting(None, "Augmented views per training image whose frozen-backbone features the "
                                "head trains on [default: 4 up to 250 images, 1 from 1,000].", min=0)
    # 0.2 before the classifier layer, as the transfer-learning tutorial; the classic
    # nets use it where their papers did (AlexNet's and VGG's dense layers).
    dropout: float = setting(0.2, min=0, max=1)
    # L2 weight decay on conv and dense kernels; 0 leaves regularisation to dropout.
    l2: float = setting(0.0, "L2 weight decay.", min=0)
    # Multiplies the classic nets' filters and units: 0.25 trains AlexNet/VGG/ResNet on
    # a CPU in minutes; 1.0 is the papers' widths.
    width: float = setting(1.0, "Scale the classic CNNs' filters and units (0.25: quick on a CPU).",
                           min=0, min_open=True)
    # VGG: 11, 13, 16 or 19 layers; ResNet: 18 or 34 (None: 11 and 18, the smallest).
    depth: int | None = setting(None, "VGG: 11, 13, 16 or 19 [11]; ResNet: 18 or 34 [18].")
    # "imagenet": ImageNet weights for the backbone; a file path loads local weights
    # instead; None: random weights (only to test code paths cheaply).
    weights: str | None = setting("imagenet", "Backbone weights file instead of the ImageNet download.",
                                  show_default=False)


def check(config: TrainClassifierConfig) -> TrainClassifierConfig:
    """The field checks, then those that involve several fields."""
    validate(config)
    if config.arch == "vgg" and (config.depth or 11) not in VGG_BLOCKS:
        raise DlkitError(f"VGG depth must be one of {', '.join(map(str, VGG_BLOCKS))}")
    if config.arch == "resnet" and (config.depth or 18) not in RESNET_BLOCKS:
        raise DlkitError(f"ResNet depth must be one of {', '.join(map(str, RESNET_BLOCKS))}")
    if config.fine_tune_epochs and config.arch in CLASSIC:
        raise DlkitError(f"--fine-tune-epochs applies to ImageNet backbones, not to {config.arch} "
                         f"(trained from scratch: raise --epochs instead)")
    if not config.val_dir and not 0 < config.val_split < 1:
        raise DlkitError("--val-split must be between 0 and 1 (or pass --val-dir)")
    return config


# The task interface's Config: what `train` trains (ClassifyConfig sets up `load`'s predictor).
Config = TrainClassifierConfig


@dataclass
class Saliency:
    # Heat-maps cost a gradient pass per photo: only when asked.
    saliency_dir: str | None = setting(None, "Also write a Grad-CAM heat-map PNG of each image's label to this "
                                       "folder; records name it.", flags=("--saliency",), output="dir")


@dataclass
class TrainData:
    # A CSV of labels serves multi-label and multi-task data, which class folders cannot.
    labels: str | None = setting(None, "A CSV (image, then one column per task) instead of class folders: "
                                 "multi-label and multi-task heads on one frozen backbone.", path="file")
    # None: every column's loss counts alike.
    task_weights: str | None = setting(None, "With --labels: weight of each column's loss, COLUMN=W,... "
                                       "[default: 1 each].")


@dataclass
class EvaluateConfig:
    # Beside the model by default, where the training curves are.
    confusion_png: str | None = setting(None, "Where to write the confusion-matrix PNG [default: "
                                        "MODEL.confusion.png].", flags=("--confusion",), output=(".png",))
    labels: str | None = setting(None, "For a model trained with --labels: a CSV of the same columns naming "
                                 "images in DATA_DIR.", path="file")
    batch_size: int = setting(32, min=1, flags=("-b", "--batch-size"))
