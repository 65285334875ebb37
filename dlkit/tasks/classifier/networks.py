"""The networks a classifier is built from: an ImageNet backbone under a new head
(transfer learning), or a classic CNN from scratch (LeNet-5, AlexNet, VGG, ResNet).

Every model takes raw RGB pixels (0..255), carries its preprocessing as plain Keras
layers and ends in layers.ClassNames, so it loads in safe mode and labels photos alone.
"""

import functools

import numpy as np

from dlkit.core import layers
from dlkit.core.runtime import keras
from dlkit.tasks.classifier.config import CLASSIC, RESNET_BLOCKS, VGG_BLOCKS, TrainClassifierConfig
from dlkit.vision import backbones


def default_image_size(arch: str) -> int:
    if arch in backbones.BACKBONES:
        return backbones.get(arch).input_size
    return {"lenet5": 28, "alexnet": 64, "vgg": 32, "resnet": 32}[arch]


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
    return keras.Model(inputs, layers.ClassNames(class_names)(x), name=f"dlkit_{config.arch}")


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
