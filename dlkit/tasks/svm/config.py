"""The SVM task's settings: which features (FeaturesConfig) and how the SVM is fitted
(SVMConfig). No TensorFlow here: the commands' options are made from them."""

from dataclasses import dataclass

from dlkit.core.config import setting
from dlkit.vision.backbones import BACKBONES, DEFAULT, get

SOBEL = "sobel"
KERNELS = ("linear", "rbf")


@dataclass
class FeaturesConfig:
    # Any registry backbone, or "sobel": fixed edge filters, the shallow baseline.
    backbone: str = setting(DEFAULT, "ImageNet network, or sobel (fixed edge filters, the shallow baseline).",
                            choices=(*BACKBONES, SOBEL))
    # "pooled": the global-average-pooled last convolutional block, the usual generic
    # feature; a layer name takes that layer instead (4-D maps are average-pooled).
    layer: str = setting("pooled", "pooled (global-average-pooled last block) or a layer name.")
    # None: the backbone's ImageNet size (224), where its features are best; Sobel uses 128.
    image_size: int | None = setting(None, "Input size [default: 224, sobel 128].", min=32)
    # Enough images per step to keep the cores busy, few enough to stay small in memory.
    batch_size: int = setting(32, min=1, flags=("-b", "--batch-size"))
    # None: the ImageNet weights; a file path loads local weights instead.
    weights: str | None = setting(None, cli=False)
    # A model of one's own instead of a backbone: any .keras file from RGB pixels to a
    # vector (dlkit.vision.encoders), such as an autoencoder's encoder (its codes).
    model: str | None = setting(None, "A .keras model from RGB pixels to vectors instead of a backbone, e.g. "
                                "from dlkit train-autoencoder (its bottleneck codes); it sets the image size.",
                                path="file")

    def size(self) -> int:
        if self.image_size:
            return self.image_size
        return 128 if self.backbone == SOBEL else get(self.backbone).input_size


@dataclass
class SVMConfig:
    # Linear: fast, and CNN features are close to linearly separable; rbf for small data.
    kernel: str = setting("linear", choices=KERNELS)
    # None: chosen by cross-validation, walking up the kernel's grid (below).
    C: float | None = setting(None, "SVM regularization [default: chosen by cross-validation].",
                              min=0, min_open=True, flags=("--C",))
    # Standardized CNN features have ~1,000 unit-variance dimensions, so the margins a
    # linear SVM needs come with small C: the best C measured here was 1e-4 (cats vs
    # dogs, 2,000 images) and 1e-4 to 1e-3 (100 classes x 20 images). Large C only
    # overfits and converges slowly, so the search walks up in half-decade steps and
    # stops at the first C that does not improve on the best (see model.search).
    c_grid: tuple[float, ...] = setting((1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1), cli=False)
    # An RBF SVM's usual grid (gamma "scale" already adapts to the feature scale).
    rbf_c_grid: tuple[float, ...] = setting((0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0), cli=False)
    # 5 folds is the usual bias/variance compromise; fewer are used for tiny classes.
    folds: int = setting(5, min=2)
    seed: int = setting(0)
    # Enough iterations for LinearSVC to converge on standardized CNN features.
    max_iter: int = setting(5000, min=1, cli=False)
    # The search only ranks C values by accuracy: its solver (model._squared_hinge_ovr)
    # stops when an L-BFGS step lowers the objective by less than this share; at 1e-6
    # its weights matched LinearSVC's to within 1% (100 classes). The final model is
    # LinearSVC's own fit.
    search_tol: float = setting(1e-6, min=0, min_open=True, cli=False)

    def grid(self) -> tuple[float, ...]:
        if self.C:
            return (self.C,)
        return self.c_grid if self.kernel == "linear" else self.rbf_c_grid


# The task interface's Config: what `train` fits (FeaturesConfig says how images become features).
Config = SVMConfig


@dataclass
class TrainData:
    # A held-out set gives the accuracy users should expect on their own images; without
    # one, cross-validation's is all there is.
    test: str | None = setting(None, "Held-out data (class folders or features file) for a test accuracy "
                               "[default: none, or DATA's validation/, val/ or test/ split].")


@dataclass
class PredictConfig:
    batch_size: int = setting(32, min=1, flags=("-b", "--batch-size"))


# The twins of backbone layers and of the Sobel baseline are named
# "features-<backbone>-<image size>-<layer>" (dlkit.core.twins.load_named).
NAMED = "features-"


def named(config: FeaturesConfig) -> str:
    """The name of the twin of a backbone layer's or the Sobel baseline's features."""
    return f"{NAMED}{config.backbone}-{config.size()}-{config.layer}"


def specification(config: FeaturesConfig) -> dict:
    """What a feature network computes, as its twin's metadata names it."""
    if config.model:
        return {"model": config.model}
    return {"backbone": config.backbone, "layer": config.layer, "image_size": config.size()}
