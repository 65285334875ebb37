"""Train an image classifier on folders of your own photos, and evaluate it.

DATA_DIR holds one sub-folder per class (the layout of Keras' image_dataset_from_directory).
Two kinds of network:
- transfer learning (the default): an ImageNet backbone from dlkit.backbones, frozen,
  under a new head; then optionally the top of the backbone fine-tuned at a lower rate;
- the classic CNNs built from scratch: LeNet-5, AlexNet, VGG and ResNet.

The saved .keras model takes raw RGB pixels (0..255), carries its preprocessing as plain
Keras layers and ends in modelio.ClassNames, so `dlkit classify --model` just works.

    from dlkit.train_classifier import TrainClassifierConfig, train
    record = train("photos/", "pets.keras", TrainClassifierConfig(epochs=5))
"""

import functools
import gzip
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from dlkit import backbones, modelio, output, plots, training
from dlkit.errors import DlkitError, ItemError, check_choice
from dlkit.images import load_image
from dlkit.inputs import expand_paths
from dlkit.runtime import keras, tf
from dlkit.training import ProgressBar, TrainConfig, Trainer

CLASSIC = ("lenet5", "alexnet", "vgg", "resnet")
ARCHITECTURES = (*backbones.BACKBONES, *CLASSIC)
OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "step", "exponential", "plateau")
VGG_BLOCKS = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
RESNET_BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


# ---- Configuration ---------------------------------------------------------------------

@dataclass
class TrainClassifierConfig:
    # MobileNetV2: ImageNet features good enough for ~95% on cats vs dogs with a frozen
    # backbone, and light enough to train on a CPU.
    arch: str = backbones.DEFAULT
    # None: the size a backbone's ImageNet weights were trained at (224; 160 halves the
    # work for ~1 point of accuracy), 28 for LeNet-5 (MNIST's size), 64 for AlexNet, 32
    # for VGG/ResNet (CIFAR's size, small enough to train from scratch on a CPU).
    image_size: int | None = None
    # Head training with a frozen backbone converges within ~10 epochs; early stopping
    # ends it sooner when validation loss stops improving.
    epochs: int = 10
    # Epochs of fine-tuning the top of the backbone after the head; 0 skips it (it costs
    # ~3x a frozen epoch and helps most when the data differs from ImageNet).
    fine_tune_epochs: int = 0
    # Share of the backbone's layers, from the top, unfrozen for fine-tuning: the
    # tutorial unfreezes MobileNetV2 from layer 100 of 154, about a third.
    fine_tune_fraction: float = 0.35
    # Fine-tuning moves pretrained weights: 100x smaller steps (Adam 1e-5, as in Keras'
    # transfer-learning guide) adapt them without wrecking them.
    fine_tune_lr_factor: float = 0.01
    # 32 fits a CPU's cache and is the usual default for small data sets.
    batch_size: int = 32
    # None: 1e-3 for Adam, 1e-2 for SGD, each optimizer's usual starting point.
    lr: float | None = None
    # Adam needs no tuning; SGD with momentum is the classic recipe for CNNs from scratch.
    optimizer: str = "adam"
    # Nesterov-free classical momentum, as in the AlexNet/VGG/ResNet papers.
    momentum: float = 0.9
    # plateau halves the rate when validation loss stalls for 2 epochs (before early
    # stopping's 3); step/exponential decay multiply it by decay_rate every decay_epochs.
    lr_schedule: str = "plateau"
    decay_epochs: int = 3
    decay_rate: float = 0.5
    # Random flips, rotations and zooms: more varied photos from the same files; off for
    # digits, where a flipped 2 is not a 2.
    augment: bool = True
    # 0.2 before the classifier layer, as the transfer-learning tutorial; the classic
    # nets use it where their papers did (AlexNet's and VGG's dense layers).
    dropout: float = 0.2
    # L2 weight decay on conv and dense kernels; 0 leaves regularisation to dropout.
    l2: float = 0.0
    # Multiplies the classic nets' filters and units: 0.25 trains AlexNet/VGG/ResNet on
    # a CPU in minutes; 1.0 is the papers' widths.
    width: float = 1.0
    # VGG: 11, 13, 16 or 19 layers; ResNet: 18 or 34 (None: 11 and 18, the smallest).
    depth: int | None = None
    # Held-out share of DATA_DIR for validation when no separate folder is given.
    val_split: float = 0.2
    val_dir: str | None = None
    # None: ImageNet weights for the backbone; a file path loads local weights instead.
    weights: str | None = "imagenet"


def default_image_size(arch: str) -> int:
    if arch in backbones.BACKBONES:
        return backbones.get(arch).input_size
    return {"lenet5": 28, "alexnet": 64, "vgg": 32, "resnet": 32}[arch]


def default_lr(optimizer: str) -> float:
    return 1e-2 if optimizer == "sgd" else 1e-3


def check(config: TrainClassifierConfig) -> None:
    check_choice("architecture", config.arch, ARCHITECTURES)
    check_choice("optimizer", config.optimizer, OPTIMIZERS)
    check_choice("learning-rate schedule", config.lr_schedule, SCHEDULES)
    if config.arch == "vgg" and (config.depth or 11) not in VGG_BLOCKS:
        raise DlkitError(f"VGG depth must be one of {', '.join(map(str, VGG_BLOCKS))}")
    if config.arch == "resnet" and (config.depth or 18) not in RESNET_BLOCKS:
        raise DlkitError(f"ResNet depth must be one of {', '.join(map(str, RESNET_BLOCKS))}")
    if config.fine_tune_epochs and config.arch in CLASSIC:
        raise DlkitError(f"--fine-tune-epochs applies to ImageNet backbones, not to {config.arch} "
                         f"(trained from scratch: raise --epochs instead)")
    if not config.val_dir and not 0 < config.val_split < 1:
        raise DlkitError("--val-split must be between 0 and 1 (or pass --val-dir)")


# ---- Data ------------------------------------------------------------------------------

@dataclass
class ImageSet:
    images: np.ndarray  # uint8 [N, size, size, 3]
    labels: np.ndarray  # int32 [N], indices into class_names
    class_names: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, indices) -> "ImageSet":
        return ImageSet(self.images[indices], self.labels[indices], self.class_names)

    @property
    def is_grey(self) -> bool:
        return bool(np.all(self.images[..., 0] == self.images[..., 1])
                    and np.all(self.images[..., 1] == self.images[..., 2]))


def class_folders(data_dir: str) -> dict[str, list[str]]:
    """{class name: image paths}, classes sorted by name, as image_dataset_from_directory."""
    if not os.path.isdir(data_dir):
        raise DlkitError(f"{data_dir}: not a folder (expected one sub-folder of images per class)")
    names = sorted(d for d in os.listdir(data_dir)
                   if os.path.isdir(os.path.join(data_dir, d)) and not d.startswith("."))
    if len(names) < 2:
        raise DlkitError(f"{data_dir}: found {len(names)} class folder(s); a classifier needs at least "
                         f"2 sub-folders, one per class, each holding that class's images")
    classes = {}
    for name in names:
        paths = expand_paths([os.path.join(data_dir, name)])
        if not paths:
            raise DlkitError(f"{os.path.join(data_dir, name)}: class folder holds no images "
                             f"(remove it or add images)")
        classes[name] = paths
    return classes


def load_folder(data_dir: str, size: int, class_names: list[str] | None = None) -> ImageSet:
    """Decodes every image once, into memory; unusable files are skipped with a warning.

    `class_names` (a trained model's) fixes the label order; a folder for a class the
    model does not know is an error.
    """
    classes = class_folders(data_dir)
    names = class_names or list(classes)
    unknown = sorted(set(classes) - set(names))
    if unknown:
        raise DlkitError(f"{data_dir}: class folder(s) {', '.join(unknown)} unknown to the model "
                         f"(it knows {', '.join(names)})")
    items = [(path, names.index(name)) for name, paths in classes.items() for path in paths]

    def decode(item):
        try:
            return load_image(item[0], size)
        except ItemError as e:
            output.warn(f"{item[0]}: {e}; skipped")
            return None

    # Pillow releases the GIL while decoding, so threads use every core.
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        arrays = list(pool.map(decode, items))
    kept = [i for i, a in enumerate(arrays) if a is not None]
    for name in classes:
        if not any(items[i][1] == names.index(name) for i in kept):
            raise DlkitError(f"{os.path.join(data_dir, name)}: no usable image in this class folder")
    images = np.stack([arrays[i] for i in kept]) if kept else np.zeros((0, size, size, 3), np.uint8)
    labels = np.array([items[i][1] for i in kept], dtype=np.int32)
    return ImageSet(images, labels, names)


def split(data: ImageSet, val_fraction: float, seed: int | None) -> tuple[ImageSet, ImageSet]:
    """A stratified random split: each class keeps its share on both sides."""
    rng = np.random.default_rng(0 if seed is None else seed)
    train, val = [], []
    for label in range(len(data.class_names)):
        indices = rng.permutation(np.flatnonzero(data.labels == label))
        n_val = int(round(len(indices) * val_fraction))
        if n_val == 0 or n_val == len(indices):
            raise DlkitError(f"class {data.class_names[label]} has {len(indices)} image(s): too few to "
                             f"split {val_fraction:.0%} off for validation (pass --val-dir)")
        val.extend(indices[:n_val])
        train.extend(indices[n_val:])
    return data.take(np.sort(train)), data.take(np.sort(val))


def augmentation(seed: int | None) -> "keras.Sequential":
    """Flip, rotate (±36°) and zoom (±20%): the transfer-learning tutorial's recipe."""
    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomRotation(0.1, seed=seed),
        keras.layers.RandomZoom(0.2, seed=seed),
    ], name="augmentation")


def dataset(data: ImageSet, batch_size: int, shuffle: bool = False, augment: bool = False,
            seed: int | None = None) -> "tf.data.Dataset":
    ds = tf.data.Dataset.from_tensor_slices((data.images, data.labels))
    if shuffle:
        ds = ds.shuffle(len(data), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y))
    if augment:
        layers = augmentation(seed)
        ds = ds.map(lambda x, y: (layers(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def read_idx(path: str) -> np.ndarray:
    """An array from an MNIST idx file (gzipped or not): magic, dims, big-endian data."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise DlkitError(f"{path}: cannot read ({e})") from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise DlkitError(f"{path}: not an unsigned-byte idx file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise DlkitError(f"{path}: truncated idx file ({body.size} of {int(np.prod(shape))} values)")
    return body.reshape(shape)


def import_mnist(mnist_dir: str, out_dir: str, test_size: int = 2000, prefix: str = "t10k") -> dict:
    """Writes MNIST's idx files as PNG class folders out_dir/{train,test}/{0..9}.

    The last `test_size` images are the test split (MNIST files are not ordered by digit).
    """
    from PIL import Image

    images = read_idx(os.path.join(mnist_dir, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(mnist_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    if len(images) != len(labels):
        raise DlkitError(f"{mnist_dir}: {len(images)} images but {len(labels)} labels")
    if not 0 < test_size < len(images):
        raise DlkitError(f"--test-size must be between 1 and {len(images) - 1}")
    cut = len(images) - test_size
    with modelio.atomic_path(out_dir) as tmp:
        for subset, rows in (("train", range(cut)), ("test", range(cut, len(images)))):
            for digit in range(10):
                os.makedirs(os.path.join(tmp, subset, str(digit)))
            for i in rows:
                Image.fromarray(images[i]).save(os.path.join(tmp, subset, str(labels[i]), f"{i:05d}.png"))
    return {"input": mnist_dir, "output": out_dir, "train": cut, "test": test_size}


# ---- Model builders --------------------------------------------------------------------

def _regularizer(l2: float):
    return keras.regularizers.L2(l2) if l2 else None


def _pixel_transform(kernel, bias, name: str) -> "keras.layers.Layer":
    """A fixed per-pixel linear map (channel mixing plus offset) as a frozen 1x1 conv:
    a plain Keras layer, so the model file loads in safe mode without custom code."""
    kernel = np.asarray(kernel, np.float32).reshape(1, 1, 3, -1)
    return keras.layers.Conv2D(kernel.shape[-1], 1, name=name, trainable=False,
                               kernel_initializer=keras.initializers.Constant(kernel),
                               bias_initializer=keras.initializers.Constant(np.asarray(bias, np.float32)))


def preprocessing(arch: str, grey: bool) -> list:
    """Layers turning raw RGB pixels (0..255) into what the network expects."""
    if arch in CLASSIC:
        if grey:  # ITU-R 601 luma, then 0..1
            return [_pixel_transform(np.array([0.299, 0.587, 0.114]) / 255.0, [0.0], "grey")]
        return [keras.layers.Rescaling(1 / 255.0, name="scale")]
    module = backbones.get(arch).module
    if module == "mobilenet_v2":
        return [keras.layers.Rescaling(1 / 127.5, offset=-1, name="scale")]
    if module in ("resnet50", "vgg16", "vgg19"):  # "caffe" mode: RGB to BGR, minus ImageNet's mean
        return [_pixel_transform(np.eye(3)[::-1], [-103.939, -116.779, -123.68], "bgr_minus_mean")]
    return []  # EfficientNet rescales inside the network


def lenet5(x, num_classes: int, config: TrainClassifierConfig):
    """LeCun et al. 1998: two conv + average-pool stages, then 120-84-N dense layers, tanh.

    'same' padding on the first conv gives 28x28 digits the 28x28 C1 maps the paper got
    from its 32x32 padded inputs.
    """
    reg, w = _regularizer(config.l2), config.width
    L = keras.layers
    x = L.Conv2D(_n(6, w), 5, padding="same", activation="tanh", kernel_regularizer=reg, name="c1")(x)
    x = L.AveragePooling2D(2, name="s2")(x)
    x = L.Conv2D(_n(16, w), 5, activation="tanh", kernel_regularizer=reg, name="c3")(x)
    x = L.AveragePooling2D(2, name="s4")(x)
    x = L.Flatten()(x)
    x = L.Dense(_n(120, w), activation="tanh", kernel_regularizer=reg, name="c5")(x)
    x = L.Dense(_n(84, w), activation="tanh", kernel_regularizer=reg, name="f6")(x)
    x = L.Dropout(config.dropout)(x)
    return L.Dense(num_classes, kernel_regularizer=reg, name="logits")(x)


def alexnet(x, num_classes: int, config: TrainClassifierConfig):
    """Krizhevsky et al. 2012: five convs (96-256-384-384-256), overlapping max-pools,
    two dropout-regularised 4096-unit dense layers, ReLU throughout.

    Below 128 px the 11x11 stride-4 stem would leave nothing to convolve, so small
    images get a 3x3 stride-1 stem instead (as CIFAR versions of AlexNet do).
    """
    reg, w = _regularizer(config.l2), config.width
    L = keras.layers
    conv = functools.partial(L.Conv2D, activation="relu", kernel_regularizer=reg, kernel_initializer="he_normal")
    if x.shape[1] >= 128:
        x = conv(_n(96, w), 11, strides=4)(x)
    else:
        x = conv(_n(96, w), 3, padding="same")(x)
    x = _pool(L.MaxPooling2D(3, strides=2), x)
    x = conv(_n(256, w), 5, padding="same")(x)
    x = _pool(L.MaxPooling2D(3, strides=2), x)
    for filters in (384, 384, 256):
        x = conv(_n(filters, w), 3, padding="same")(x)
    x = _pool(L.MaxPooling2D(3, strides=2), x)
    return _dense_head(x, num_classes, config)


def vgg(x, num_classes: int, config: TrainClassifierConfig):
    """Simonyan & Zisserman 2014: stacks of 3x3 convs (64-128-256-512-512 filters), a
    max-pool after each stack, two dropout-regularised 4096-unit dense layers.

    Depth 11/13/16/19 sets how many convs each of the five stacks has. He
    initialisation lets the deeper variants train from scratch without the paper's
    staged initialisation from VGG-11. Small inputs skip the pools that would shrink
    them below 1x1.
    """
    reg, w = _regularizer(config.l2), config.width
    L = keras.layers
    for stage, (filters, convs) in enumerate(zip((64, 128, 256, 512, 512), VGG_BLOCKS[config.depth or 11]), 1):
        for i in range(convs):
            x = L.Conv2D(_n(filters, w), 3, padding="same", activation="relu", kernel_regularizer=reg,
                         kernel_initializer="he_normal", name=f"block{stage}_conv{i + 1}")(x)
        x = _pool(L.MaxPooling2D(2, name=f"block{stage}_pool"), x)
    return _dense_head(x, num_classes, config)


def _dense_head(x, num_classes: int, config: TrainClassifierConfig):
    """AlexNet's and VGG's classifier: two 4096-unit ReLU layers, each followed by dropout."""
    L = keras.layers
    x = L.Flatten()(x)
    for _ in range(2):
        x = L.Dense(_n(4096, config.width), activation="relu", kernel_regularizer=_regularizer(config.l2),
                    kernel_initializer="he_normal")(x)
        x = L.Dropout(config.dropout)(x)
    return L.Dense(num_classes, kernel_regularizer=_regularizer(config.l2), name="logits")(x)


def resnet(x, num_classes: int, config: TrainClassifierConfig):
    """He et al. 2015: basic residual blocks (two 3x3 convs with batch norm, plus the
    input added back through a skip connection) in four stages of 64-128-256-512
    filters; depth 18 or 34. Small inputs get a 3x3 stride-1 stem instead of the
    7x7 stride-2 conv and max-pool meant for 224 px ImageNet photos.
    """
    reg, w = _regularizer(config.l2), config.width
    L = keras.layers
    if x.shape[1] >= 128:
        x = L.Conv2D(_n(64, w), 7, strides=2, padding="same", use_bias=False, kernel_regularizer=reg)(x)
        x = L.ReLU()(_batch_norm(x))
        x = L.MaxPooling2D(3, strides=2, padding="same")(x)
    else:
        x = L.Conv2D(_n(64, w), 3, padding="same", use_bias=False, kernel_regularizer=reg)(x)
        x = L.ReLU()(_batch_norm(x))
    for stage, (filters, blocks) in enumerate(zip((64, 128, 256, 512), RESNET_BLOCKS[config.depth or 18])):
        for block in range(blocks):
            strides = 2 if stage > 0 and block == 0 else 1
            x = _residual_block(x, _n(filters, w), strides, reg)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dropout(config.dropout)(x)
    return L.Dense(num_classes, kernel_regularizer=reg, name="logits")(x)


def _residual_block(x, filters: int, strides: int, reg):
    L = keras.layers
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        # The skip must match the block's output shape: a strided 1x1 projection.
        shortcut = L.Conv2D(filters, 1, strides=strides, use_bias=False, kernel_regularizer=reg)(x)
        shortcut = _batch_norm(shortcut)
    y = L.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, kernel_regularizer=reg)(x)
    y = L.ReLU()(_batch_norm(y))
    y = L.Conv2D(filters, 3, padding="same", use_bias=False, kernel_regularizer=reg)(y)
    y = _batch_norm(y)
    return L.ReLU()(L.Add()([shortcut, y]))


def _batch_norm(x):
    # Momentum 0.9, not Keras' 0.99: the running statistics used at inference settle
    # within a few dozen steps, which small data sets and short runs need.
    return keras.layers.BatchNormalization(momentum=0.9)(x)


def _n(units: int, width: float) -> int:
    return max(1, int(round(units * width)))


def _pool(layer, x):
    """Applies a pooling layer unless the feature map is already too small for it."""
    return layer(x) if x.shape[1] >= layer.pool_size[0] else x


BUILDERS = {"lenet5": lenet5, "alexnet": alexnet, "vgg": vgg, "resnet": resnet}


def build_model(config: TrainClassifierConfig, class_names: list[str], image_size: int,
                grey: bool = False) -> "keras.Model":
    """Raw RGB pixels in, class probabilities out, ending in ClassNames(class_names)."""
    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    x = inputs
    for layer in preprocessing(config.arch, grey):
        x = layer(x)
    if config.arch in CLASSIC:
        x = BUILDERS[config.arch](x, len(class_names), config)
    else:
        base = backbones.build(config.arch, include_top=False, input_size=image_size, weights=config.weights)
        base.trainable = False
        # Batch norm must stay in inference mode: the ImageNet statistics (folded into the
        # offline weights) must never be replaced by a batch's. Keras 3 lets fit()'s
        # training=True override this call's training=False, so unfreeze_top also keeps
        # every batch-norm layer frozen, which pins it to inference mode.
        x = base(x, training=False)
        x = keras.layers.GlobalAveragePooling2D()(x)
        x = keras.layers.Dropout(config.dropout)(x)
        x = keras.layers.Dense(len(class_names), kernel_regularizer=_regularizer(config.l2), name="logits")(x)
    # float32 probabilities even under mixed precision: softmax in float16 saturates.
    x = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, modelio.ClassNames(class_names)(x), name=f"dlkit_{config.arch}")


def backbone_of(model: "keras.Model") -> "keras.Model | None":
    return next((layer for layer in model.layers if isinstance(layer, keras.Model)), None)


def unfreeze_top(model: "keras.Model", fraction: float) -> int:
    """Makes the top `fraction` of the backbone's layers trainable, batch norm excepted
    (a frozen batch-norm layer always runs in inference mode); returns how many."""
    base = backbone_of(model)
    base.trainable = True
    cut = int(round(len(base.layers) * (1 - fraction)))
    for i, layer in enumerate(base.layers):
        layer.trainable = i >= cut and not isinstance(layer, keras.layers.BatchNormalization)
    return sum(layer.trainable for layer in base.layers)


# ---- Training --------------------------------------------------------------------------

def _optimizer(config: TrainClassifierConfig, lr, steps_per_epoch: int):
    schedule = lr if config.lr_schedule == "plateau" else training.learning_rate_schedule(
        config.lr_schedule, lr, steps_per_epoch, config.decay_epochs, config.decay_rate)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(schedule, momentum=config.momentum)
    return keras.optimizers.Adam(schedule)


def _compile(model, trainer: Trainer, config: TrainClassifierConfig, lr: float, steps: int) -> None:
    with trainer.scope():
        model.compile(_optimizer(config, lr, steps), "sparse_categorical_crossentropy", metrics=["accuracy"],
                      **trainer.compile_options())


def _phase_callbacks(config: TrainClassifierConfig, epochs: int, steps: int, description: str,
                     progress: bool) -> list:
    callbacks = [ProgressBar(epochs, steps, description)] if progress else []
    if config.lr_schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau("val_loss", factor=0.5, patience=2, min_lr=1e-6,
                                                           verbose=0))
    return callbacks


def train(data_dir: str, output_path: str, config: TrainClassifierConfig | None = None,
          train_config: TrainConfig | None = None, callbacks: list | None = None,
          progress: bool = True) -> dict:
    """Trains, saves `output_path` (+ a training-curve PNG beside it); returns the summary.

    Two phases for ImageNet backbones: the head on a frozen backbone, then (with
    fine_tune_epochs) the top of the backbone at a lower rate. Each phase checkpoints in
    its own folder, and the head's final weights are kept between them, so --resume
    picks up in whichever phase was interrupted.
    """
    config = config or TrainClassifierConfig()
    train_config = train_config or TrainConfig()
    check(config)
    size = config.image_size or default_image_size(config.arch)
    data = load_folder(data_dir, size)
    if config.val_dir:
        train_set, val_set = data, load_folder(config.val_dir, size, data.class_names)
    else:
        train_set, val_set = split(data, config.val_split, train_config.seed)
    grey = config.arch in CLASSIC and train_set.is_grey
    output.info(f"{len(train_set)} training and {len(val_set)} validation images, "
                f"{len(data.class_names)} classes, {size}px{' grey' if grey else ''}, {config.arch}")

    trainer = Trainer(train_config, output_path)
    seed = train_config.seed
    train_ds = trainer.distribute(dataset(train_set, config.batch_size, shuffle=True, augment=config.augment,
                                          seed=seed))
    val_ds = trainer.distribute(dataset(val_set, config.batch_size))
    steps = training.steps_in(train_ds) or 1
    lr = config.lr or default_lr(config.optimizer)
    with trainer.scope():
        model = build_model(config, data.class_names, size, grey)

    head_weights = os.path.join(trainer.workdir, "head.weights.h5")
    fine_tuning = config.fine_tune_epochs > 0
    head_done = trainer.resume and fine_tuning and os.path.exists(head_weights)
    if head_done:
        model.load_weights(head_weights)  # before compiling: the head's optimizer state is not wanted
        history = _saved_history(trainer.workdir)
    else:
        _compile(model, trainer, config, lr, steps)
        history = trainer.fit(model, train_ds, val_ds, config.epochs,
                              callbacks=[*(callbacks or []),
                                         *_phase_callbacks(config, config.epochs, steps, "training", progress)])
    if fine_tuning:
        if not head_done:
            # Keras insists on the .weights.h5 suffix, so no atomic_path: a rename is atomic.
            partial = os.path.join(trainer.workdir, "partial.weights.h5")
            model.save_weights(partial)
            os.replace(partial, head_weights)
        unfrozen = unfreeze_top(model, config.fine_tune_fraction)
        output.info(f"fine-tuning the top {unfrozen} layers of {config.arch}")
        _compile(model, trainer, config, lr * config.fine_tune_lr_factor, steps)
        head_workdir = trainer.workdir
        trainer.workdir = os.path.join(head_workdir, "fine-tune")
        os.makedirs(trainer.workdir, exist_ok=True)
        tuned = trainer.fit(model, train_ds, val_ds, config.fine_tune_epochs,
                            callbacks=[*(callbacks or []),
                                       *_phase_callbacks(config, config.fine_tune_epochs, steps, "fine-tuning",
                                                         progress)])
        trainer.workdir = head_workdir
        history = _concatenate(history, tuned)

    trainer.save(model, output_path)
    curves = os.path.splitext(output_path)[0] + ".curves.png"
    if trainer.is_chief:
        plots.training_curves(history, curves, title=f"{config.arch} on {os.path.basename(os.path.abspath(data_dir))}")
    trainer.finish()
    val_loss, val_accuracy = model.evaluate(val_ds, verbose=0)
    return {"input": data_dir, **training.summary(
        history, model=output_path, curves=curves, arch=config.arch,
        classes=data.class_names, train_images=len(train_set), val_images=len(val_set),
        final_val_accuracy=round(float(val_accuracy), 6), final_val_loss=round(float(val_loss), 6))}


def _saved_history(workdir: str) -> dict:
    with open(os.path.join(workdir, "history.json")) as f:
        saved = json.load(f)
    return {**saved["history"], "seconds": saved["seconds"]}


def _concatenate(first: dict, second: dict) -> dict:
    history = {k: first.get(k, []) + v for k, v in second.items() if isinstance(v, list)}
    history["seconds"] = first.get("seconds", 0.0) + second.get("seconds", 0.0)
    return history


# ---- Evaluation ------------------------------------------------------------------------

def evaluate(data_dir: str, model_path: str, confusion_png: str | None = None,
             batch_size: int = 32) -> tuple[list[dict], dict]:
    """Per-class records and one metrics record for a trained classifier on DATA_DIR.

    Writes a confusion-matrix PNG (default: beside the model, <model>.confusion.png).
    """
    model = modelio.load_model(model_path)
    names = modelio.class_names(model)
    if names is None:
        raise DlkitError(f"{model_path}: no class names in the model (train it with dlkit train-classifier)")
    size = int(model.input_shape[1] or 224)
    data = load_folder(data_dir, size, names)
    probabilities = model.predict(dataset(data, batch_size), verbose=0)
    predicted = probabilities.argmax(axis=1)
    k = len(names)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (data.labels, predicted), 1)
    per_class = []
    for i, name in enumerate(names):
        support = int(matrix[i].sum())
        if not support:
            continue  # a class this folder has no images of: nothing to measure
        per_class.append({"input": os.path.join(data_dir, name), "class": name, "images": support,
                          "precision": _ratio(matrix[i, i], matrix[:, i].sum()),
                          "recall": _ratio(matrix[i, i], support)})
    confusion_png = confusion_png or os.path.splitext(model_path)[0] + ".confusion.png"
    present = [i for i in range(k) if matrix[i].sum() or matrix[:, i].sum()]
    plots.confusion_matrix(matrix[np.ix_(present, present)], [names[i] for i in present], confusion_png,
                           title=f"{os.path.basename(model_path)} on {os.path.basename(os.path.abspath(data_dir))}")
    metrics = {
        "input": data_dir, "model": model_path, "images": len(data),
        "accuracy": _ratio(np.trace(matrix), matrix.sum()),
        "macro_precision": round(float(np.mean([c["precision"] for c in per_class])), 6),
        "macro_recall": round(float(np.mean([c["recall"] for c in per_class])), 6),
        "confusion_matrix": confusion_png,
    }
    return per_class, metrics


def _ratio(a, b) -> float:
    return round(float(a) / float(b), 6) if b else 0.0
