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

    def size(self) -> int:
        if self.image_size:
            return self.image_size
        return 128 if self.backbone == SOBEL else get(self.backbone).input_size


@dataclass
class SVMConfig:
    # Linear: fast, and CNN features are close to linearly separable; rbf for small data.
    kernel: str = setting("linear", choices=KERNELS)
    # None: chosen by cross-validation from `c_grid`.
    C: float | None = setting(None, "SVM regularization [default: chosen by cross-validation].",
                              min=0, min_open=True, flags=("--C",))
    c_grid: tuple[float, ...] = setting((0.00001, 0.0001, 0.001, 0.01, 0.1, 1.0, 10.0), cli=False)
    # 5 folds is the usual bias/variance compromise; fewer are used for tiny classes.
    folds: int = setting(5, min=2)
    # Share of the data held out to report accuracy on unseen images (when no test set).
    test_split: float = setting(0.2, min=0.05, max=0.5)
    seed: int = setting(0)
    # Enough iterations for LinearSVC to converge on standardized CNN features.
    max_iter: int = setting(5000, min=1, cli=False)
