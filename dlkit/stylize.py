"""Neural style transfer: optimize a picture (Gatys et al.) or train a feed-forward
stylizer (Johnson et al.) that repaints any photo in one pass.

    from dlkit.stylize import StylizeConfig, stylize
    image, report = stylize("photo.jpg", ["starry.jpg"], StylizeConfig(size=512))
"""

import os
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image

from dlkit import backbones, modelio
from dlkit.errors import DlkitError, ItemError, check_choice
from dlkit.images import load_image
from dlkit.inputs import expand_paths
from dlkit.runtime import keras, tf

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


# ---- Configuration ---------------------------------------------------------------------

@dataclass
class StylizeConfig:
    # VGG19 is the classic, best-looking loss network; it needs its ImageNet download.
    backbone: str = "vgg19"
    content_layers: list[str] | None = None  # None: the backbone's defaults in LAYERS
    style_layers: list[str] | None = None
    # Softmax-smoothed activations before the Gram matrices (after Wang et al., CVPR 2021,
    # "SWAG", proposed for ResNets). Off by default: on MobileNetV2 it painted noisier
    # pictures than the plain Grams plus the pixel Gram (tasks/stylize/README.md).
    smooth: bool = False
    # L-BFGS reaches a given loss in far fewer evaluations than gradient descent.
    optimizer: str = "lbfgs"
    # Gradient pairs L-BFGS remembers: more pairs, better steps; its own cost per step
    # grows with this times the pixels (20 pairs: ~5 ms at 256 px, a tenth of an evaluation).
    lbfgs_memory: int = 20
    # Function evaluations in all; most are spent at the coarse, cheap scales.
    iterations: int = 200
    # Longest side of the output, in pixels.
    size: int = 512
    # Beyond this, ask the user to confirm with a larger --max-size, instead of
    # running out of memory half-way (activations grow with the pixel count).
    max_size: int = 2048
    # Scales, coarse to fine: each halving quarters the cost of an evaluation, and the
    # coarse result gives the fine scales a head start. None: halve while the coarsest
    # stays at least `coarsest` px (below that, the loss network sees too little).
    scales: int | None = None
    coarsest: int = 256
    # Losses are relative (each divided by its target's energy), so weights read as
    # trade-offs: style counts 100x content by default.
    content_weight: float = 1.0
    style_weight: float = 100.0
    tv_weight: float = 1.0
    init: str = "content"  # content | style | noise
    style_weights: list[float] | None = None  # blend of several styles; None: equal
    preserve_color: bool = False
    learning_rate: float = 5.0  # Adam, in pixel units (0..255)
    seed: int | None = None
    # "imagenet", a weights file, or None for random weights (only to test code paths).
    weights: str | None = "imagenet"


# ---- Data ------------------------------------------------------------------------------

def _fit(width: int, height: int, longest: int) -> tuple[int, int]:
    scale = longest / max(width, height)
    return max(16, round(width * scale)), max(16, round(height * scale))


def _load(path: str, size: tuple[int, int] | None = None) -> np.ndarray:
    try:
        return load_image(path, size).astype(np.float32)
    except ItemError as e:
        raise DlkitError(f"{path}: {e}") from None


def save_image(array: np.ndarray, path: str) -> None:
    """Writes an RGB image atomically, in the format its extension names."""
    image = Image.fromarray(np.clip(np.asarray(array) + 0.5, 0, 255).astype(np.uint8))
    suffix = os.path.splitext(path)[1].lower()
    kind = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF",
            ".tiff": "TIFF"}.get(suffix)
    if kind is None:
        raise DlkitError(f"{path}: unknown image format {suffix!r}; use .jpg, .png, .webp, .bmp or .tif")
    with modelio.atomic_path(path) as tmp:
        image.save(tmp, format=kind, **({"quality": 95} if kind == "JPEG" else {}))


def preserve_colors(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The stylized image's luminance with the content photo's colours (YCbCr)."""
    stylized_y = Image.fromarray(np.clip(stylized, 0, 255).astype(np.uint8)).convert("YCbCr")
    content_ycc = Image.fromarray(np.clip(content, 0, 255).astype(np.uint8)).resize(stylized_y.size).convert("YCbCr")
    y = stylized_y.split()[0]
    _, cb, cr = content_ycc.split()
    return np.asarray(Image.merge("YCbCr", (y, cb, cr)).convert("RGB"), dtype=np.float32)


# ---- Model: the loss network -----------------------------------------------------------

class LossNetwork:
    """Content features and (smoothed) Gram matrices of a frozen ImageNet CNN."""

    def __init__(self, backbone: str, content_layers=None, style_layers=None, smooth=False, weights="imagenet"):
        if backbone not in LAYERS:
            raise DlkitError(f"no style layers known for {backbone}; choose one of {', '.join(LAYERS)}")
        self.backbone = backbones.get(backbone)
        default_content, default_style = LAYERS[backbone]
        self.content_layers = content_layers or default_content
        self.style_layers = style_layers or default_style
        self.smooth = smooth
        base = backbones.build(backbone, include_top=False, weights=weights, any_size=True)
        names = {layer.name for layer in base.layers} | {PIXELS}
        missing = [n for n in self.content_layers + self.style_layers if n not in names]
        if missing:
            raise DlkitError(f"{backbone} has no layer(s) {', '.join(missing)}")
        outputs = [base.input if n == PIXELS else base.get_layer(n).output
                   for n in self.content_layers + self.style_layers]
        self.model = keras.Model(base.input, outputs)
        self.model.trainable = False

    def features(self, images):
        """(content feature maps, style Gram matrices) of 0..255 RGB images."""
        outputs = self.model(self.backbone.preprocess(tf.cast(images, tf.float32)), training=False)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        n = len(self.content_layers)
        content = [self._smoothed(f) for f in outputs[:n]]
        names = self.style_layers
        grams = [gram(f if name == PIXELS else self._smoothed(f)) for name, f in zip(names, outputs[n:])]
        return content, grams

    def _smoothed(self, features):
        if not self.smooth:
            return features
        # softmax over channels at each position, rescaled so a uniform map has values 1
        return tf.nn.softmax(features, axis=-1) * tf.cast(tf.shape(features)[-1], features.dtype)


def gram(features):
    """Channel correlations averaged over positions: (batch, C, C)."""
    shape = tf.shape(features)
    flat = tf.reshape(features, [shape[0], -1, shape[3]])
    return tf.matmul(flat, flat, transpose_a=True) / tf.cast(tf.shape(flat)[1], features.dtype)


def total_variation(images):
    """Mean squared difference of neighbouring pixels, in 0..1 units."""
    x = images / 255.0
    return tf.reduce_mean(tf.square(x[:, 1:, :, :] - x[:, :-1, :, :])) + tf.reduce_mean(
        tf.square(x[:, :, 1:, :] - x[:, :, :-1, :]))


class StyleLoss:
    """α·content + β·style + γ·TV, each term relative to its target's energy so the
    weights mean the same on every backbone and at every scale."""

    def __init__(self, network: LossNetwork, content: np.ndarray, style_grams: list, config: StylizeConfig):
        self.network = network
        self.content_targets, _ = network.features(content[None])
        self.style_targets = style_grams
        self.weights = tf.constant([config.content_weight, config.style_weight, config.tv_weight], tf.float32)

    def __call__(self, image):
        return _style_loss(self.network, image, self.content_targets, self.style_targets, self.weights)

    def value_and_grad(self, image):
        """(total, parts, gradient) of one image (H, W, 3), compiled once per network and
        reused at every size and scale."""
        return _value_and_grad(self.network, image, self.content_targets, self.style_targets, self.weights)


def _style_loss(network, image, content_targets, style_targets, weights):
    content, grams = network.features(image)
    content_loss = tf.add_n([_relative(f, t) for f, t in zip(content, content_targets)]) / len(content)
    style_loss = tf.add_n([_relative(g, t) for g, t in zip(grams, style_targets)]) / len(grams)
    tv = total_variation(image)
    total = weights[0] * content_loss + weights[1] * style_loss + weights[2] * tv
    return total, {"content": content_loss, "style": style_loss, "tv": tv}


@tf.function(reduce_retracing=True)
def _value_and_grad(network, image, content_targets, style_targets, weights):
    with tf.GradientTape() as tape:
        tape.watch(image)
        total, parts = _style_loss(network, image[None], content_targets, style_targets, weights)
    return total, parts, tape.gradient(total, image)


def _relative(value, target):
    return tf.reduce_mean(tf.square(value - target)) / (tf.reduce_mean(tf.square(target)) + 1e-8)


def style_grams(network: LossNetwork, styles: list[np.ndarray], weights: list[float]) -> list:
    """Blended Gram targets: a weighted mean of each style's Gram matrices."""
    total = sum(weights)
    per_style = [network.features(s[None])[1] for s in styles]
    return [tf.add_n([w / total * grams[i] for w, grams in zip(weights, per_style)])
            for i in range(len(per_style[0]))]


# ---- Optimization (Gatys et al.) --------------------------------------------------------

@dataclass
class StylizeReport:
    iterations: int = 0
    seconds: float = 0.0
    losses: dict = field(default_factory=dict)
    history: list = field(default_factory=list)  # total loss after each evaluation
    size: tuple[int, int] = (0, 0)


def stylize(content_path: str, style_paths: list[str], config: StylizeConfig | None = None,
            on_step: Callable[[int, dict], None] | None = None,
            on_image: Callable[[int, np.ndarray], None] | None = None,
            network: LossNetwork | None = None) -> tuple[np.ndarray, StylizeReport]:
    """The stylized image (float RGB 0..255, longest side config.size) and a report.

    `on_step(evaluation, losses, (width, height))` follows progress; `on_image(evaluation, image)` gets
    intermediate results (for --save-every)."""
    config = config or StylizeConfig()
    if not style_paths:
        raise DlkitError("give at least one style image")
    if config.size > config.max_size:
        raise DlkitError(f"--size {config.size} exceeds --max-size {config.max_size}: memory grows with the "
                         f"pixel count; raise --max-size if this machine has the memory")
    weights = config.style_weights or [1.0] * len(style_paths)
    if len(weights) != len(style_paths) or min(weights) < 0 or sum(weights) <= 0:
        raise DlkitError(f"--style-weights needs {len(style_paths)} non-negative numbers, not all zero")
    check_choice("optimizer", config.optimizer, ("lbfgs", "adam"))
    if config.seed is not None:
        tf.random.set_seed(config.seed)
    content_full = _load(content_path)
    styles_full = [_load(p) for p in style_paths]
    width, height = _fit(content_full.shape[1], content_full.shape[0], config.size)
    network = network or LossNetwork(config.backbone, config.content_layers, config.style_layers, config.smooth,
                                     config.weights)
    levels = config.scales or _levels(max(width, height), config.coarsest)
    shifts = [levels - 1 - i for i in range(levels)]  # halvings, coarsest first
    sizes = [(max(16, width >> s), max(16, height >> s)) for s in shifts]
    budgets = _split(config.iterations, len(sizes))
    report = StylizeReport(size=(width, height))
    start = time.perf_counter()
    image = None
    rng = np.random.default_rng(config.seed)
    for (w, h), budget in zip(sizes, budgets):
        content = _resized(content_full, (w, h))
        styles = [_resized(s, _fit(s.shape[1], s.shape[0], max(w, h))) for s in styles_full]
        loss = StyleLoss(network, content, style_grams(network, styles, weights), config)
        if image is None:
            image = _initial(config.init, content, styles[0], rng)
        else:
            image = tf.image.resize(image[None], (h, w), method="bicubic")[0].numpy()
        step = (lambda i, losses, size=(w, h): on_step(i, losses, size)) if on_step else None
        image = _optimize(loss, image, budget, config, report, step, on_image)
    report.seconds = time.perf_counter() - start
    if config.preserve_color:
        image = preserve_colors(image, _resized(content_full, (width, height)))
    return image, report


def _resized(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (image.shape[1], image.shape[0]) == size:
        return image
    resample = Image.LANCZOS if size[0] < image.shape[1] else Image.BICUBIC
    return np.asarray(Image.fromarray(image.astype(np.uint8)).resize(size, resample), np.float32)


def _levels(longest: int, coarsest: int) -> int:
    levels = 1
    while longest >> levels >= coarsest:
        levels += 1
    return levels


def _split(total: int, parts: int) -> list[int]:
    """Evaluations per scale: half the budget at the coarsest, cheapest scale."""
    weights = [2.0 ** (parts - 1 - i) for i in range(parts)]
    counts = [max(1, int(total * w / sum(weights))) for w in weights]
    counts[0] += total - sum(counts)
    return counts


def _initial(kind: str, content: np.ndarray, style: np.ndarray, rng) -> np.ndarray:
    if kind == "content":
        return content.copy()
    if kind == "style":
        h, w = content.shape[:2]
        return np.asarray(Image.fromarray(style.astype(np.uint8)).resize((w, h)), np.float32)
    if kind == "noise":
        return rng.uniform(0, 255, content.shape).astype(np.float32)
    raise DlkitError(f"unknown --init {kind!r}; choose content, style or noise")


def _optimize(loss: StyleLoss, image: np.ndarray, evaluations: int, config: StylizeConfig,
              report: StylizeReport, on_step, on_image) -> np.ndarray:
    shape = image.shape
    value_and_grad = loss.value_and_grad

    def record(total, parts, x):
        report.iterations += 1
        report.history.append(float(total))
        report.losses = {"total": float(total), **{k: float(v) for k, v in parts.items()}}
        if on_step:
            on_step(report.iterations, report.losses)
        if on_image:
            on_image(report.iterations, x)

    if config.optimizer == "lbfgs":
        def evaluate(x):
            total, parts, grad = value_and_grad(tf.constant(x.reshape(shape), tf.float32))
            record(total, parts, x.reshape(shape))
            return float(total), grad.numpy().ravel()

        from threadpoolctl import threadpool_limits

        # One BLAS thread: L-BFGS's vector work is small, and BLAS threads spinning
        # between its dot products take the cores TensorFlow needs next (10x slower).
        with threadpool_limits(1):
            # float32 throughout: half the memory traffic of float64, and precise enough
            # for the curvature pairs of a loss that is itself float32.
            flat = lbfgs(evaluate, image.ravel().astype(np.float32), evaluations, config.lbfgs_memory, 0.0, 255.0)
        return flat.reshape(shape).astype(np.float32)

    variable = tf.Variable(image)
    adam = keras.optimizers.Adam(config.learning_rate)
    for _ in range(evaluations):
        total, parts, grad = value_and_grad(tf.convert_to_tensor(variable))
        adam.apply_gradients([(grad, variable)])
        variable.assign(tf.clip_by_value(variable, 0.0, 255.0))
        record(total, parts, variable.numpy())
    return variable.numpy()


def lbfgs(evaluate: Callable[[np.ndarray], tuple[float, np.ndarray]], x: np.ndarray, evaluations: int,
          memory: int = 20, lower: float = -np.inf, upper: float = np.inf, first_step: float = 8.0) -> np.ndarray:
    """Minimizes `evaluate(x) -> (value, gradient)` within `evaluations` calls: L-BFGS
    (Nocedal & Wright, algorithm 7.4) with steps projected onto [lower, upper] and a
    backtracking (Armijo) line search; returns the best point seen.

    Written here because scipy's L-BFGS-B spends ~50 ms of its own per step on an image's
    130,000 pixels (as long as the loss network's evaluation): this one spends ~5 ms.
    `first_step` caps the first step's largest change (a pixel value), before any
    curvature is known."""
    x = np.clip(x, lower, upper)
    value, grad = evaluate(x)
    used, best = 1, (value, x)
    pairs: list[tuple[np.ndarray, np.ndarray, float]] = []  # (s, y, 1 / s.y), oldest first
    while used < evaluations:
        direction = -_inverse_hessian_times(grad, pairs)
        if not pairs:
            direction *= first_step / max(np.abs(direction).max(), 1e-12)
        step = 1.0
        while True:
            candidate = np.clip(x + step * direction, lower, upper)
            slope = grad @ (candidate - x)  # predicted change, negative for a descent step
            new_value, new_grad = evaluate(candidate)
            used += 1
            if new_value <= value + 1e-4 * slope or used >= evaluations:
                break
            step *= 0.5
        if new_value < best[0]:
            best = (new_value, candidate)
        if not new_value <= value:  # no progress (budget ran out mid-search, or a NaN)
            if pairs:
                pairs.clear()  # forget stale curvature and try plain gradient steps again
                continue
            break
        s, y = candidate - x, new_grad - grad
        sy = s @ y
        if sy > 1e-10 * (y @ y):  # keeps the Hessian estimate positive definite
            pairs = (pairs + [(s, y, 1.0 / sy)])[-memory:]
        x, value, grad = candidate, new_value, new_grad
    return best[1]


def _inverse_hessian_times(grad: np.ndarray, pairs: list) -> np.ndarray:
    """The two-loop recursion: the L-BFGS estimate of H⁻¹·grad."""
    q = grad.copy()
    alphas = []
    for s, y, rho in reversed(pairs):
        alpha = rho * (s @ q)
        q -= alpha * y
        alphas.append(alpha)
    if pairs:
        s, y, _ = pairs[-1]
        q *= (s @ y) / (y @ y)
    for (s, y, rho), alpha in zip(pairs, reversed(alphas)):
        q += (alpha - rho * (y @ q)) * s
    return q


# ---- Training a fast stylizer (Johnson et al.) -------------------------------------------

@dataclass
class StylizerConfig:
    # VGG16, as Johnson et al.; mobilenet_v2 (smoothed) is lighter and needs no download
    # beyond the classifier's weights.
    backbone: str = "vgg16"
    # 16/32/64 filters (Johnson et al. use 32/64/128): 4x fewer operations, so a 512 px
    # photo takes well under a second on a CPU; quality is close at these sizes.
    width: int = 16
    residual_blocks: int = 5
    image_size: int = 256  # training crops
    batch_size: int = 4
    steps: int = 2000
    # Checkpoint (and report) every this many steps: an "epoch" of the training loop.
    steps_per_epoch: int = 100
    learning_rate: float = 1e-3
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 1.0
    style_size: int = 256  # the style image's longest side when taking its Grams
    seed: int | None = None
    weights: str | None = "imagenet"
    smooth: bool = False


def transformation_network(width: int = 16, residual_blocks: int = 5) -> "keras.Model":
    """Johnson et al.'s image transformation network: downsample, residual blocks,
    upsample by nearest-neighbour + convolution (no transposed convolutions, hence no
    checkerboard artifacts), instance normalization. Fully convolutional: any size."""
    def conv(x, filters, kernel, stride=1, relu=True):
        x = keras.layers.Conv2D(filters, kernel, stride, padding="same")(x)
        x = keras.layers.GroupNormalization(groups=-1)(x)  # groups=-1: instance normalization
        return keras.layers.ReLU()(x) if relu else x

    inputs = keras.Input((None, None, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = conv(x, width, 9)
    x = conv(x, width * 2, 3, 2)
    x = conv(x, width * 4, 3, 2)
    for _ in range(residual_blocks):
        x = keras.layers.Add()([x, conv(conv(x, width * 4, 3), width * 4, 3, relu=False)])
    for filters in (width * 2, width):
        x = keras.layers.UpSampling2D(2, interpolation="nearest")(x)
        x = conv(x, filters, 3)
    x = keras.layers.Conv2D(3, 9, padding="same", activation="sigmoid")(x)
    outputs = keras.layers.Rescaling(255.0)(x)
    return keras.Model(inputs, outputs, name="stylizer")


def _training_images(folder: str, size: int, batch_size: int, seed: int | None) -> "tf.data.Dataset":
    paths = expand_paths([folder])
    if not paths:
        raise DlkitError(f"{folder}: no images to train on")

    def decode(path):
        try:
            return load_image(path.decode(), size).astype(np.float32)
        except Exception:  # a bad training photo is replaced by a grey one, not fatal
            return np.full((size, size, 3), 127.0, np.float32)

    dataset = tf.data.Dataset.from_tensor_slices(paths).shuffle(len(paths), seed=seed)
    dataset = dataset.map(lambda p: tf.ensure_shape(tf.numpy_function(decode, [p], tf.float32), (size, size, 3)),
                          num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.map(lambda x: tf.image.random_flip_left_right(x, seed=seed))
    return dataset.batch(batch_size, drop_remainder=True).repeat().prefetch(tf.data.AUTOTUNE)


class PerceptualTrainer(keras.Model):
    """Wraps a transformation network with the perceptual losses, so that Keras' fit
    (and with it dlkit's Trainer: strategies, checkpoints, resuming) trains it."""

    def __init__(self, net: "keras.Model", network: LossNetwork, targets: list, config: StylizerConfig, **kwargs):
        super().__init__(**kwargs)
        self.net, self.network, self.config = net, network, config
        self.targets = [tf.constant(t) for t in targets]
        self.trackers = {name: keras.metrics.Mean(name) for name in ("loss", "content", "style", "tv")}

    def call(self, images, training=False):
        return self.net(images, training=training)

    def train_step(self, images):
        content_targets, _ = self.network.features(images)
        with tf.GradientTape() as tape:
            out = self.net(images, training=True)
            content, grams = self.network.features(out)
            content_loss = tf.add_n([_relative(f, t) for f, t in zip(content, content_targets)]) / len(content)
            style_loss = tf.add_n([_relative(g, tf.repeat(t, tf.shape(g)[0], axis=0))
                                   for g, t in zip(grams, self.targets)]) / len(grams)
            tv = total_variation(out)
            total = (self.config.content_weight * content_loss + self.config.style_weight * style_loss
                     + self.config.tv_weight * tv)
        grads = tape.gradient(total, self.net.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.net.trainable_variables))
        for name, value in zip(self.trackers, (total, content_loss, style_loss, tv)):
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    @property
    def metrics(self):
        return list(self.trackers.values())


def train_stylizer(style_path: str, images: str, output: str, config: StylizerConfig | None = None,
                   train_config=None, callbacks: list | None = None) -> dict:
    """Trains a transformation network to paint like `style_path` with the perceptual
    losses of `stylize`; writes it to `output` (.keras) atomically and returns a summary.
    `train_config` (dlkit.training.TrainConfig) sets strategy, precision, checkpoints."""
    from dlkit.training import TrainConfig, Trainer

    config = config or StylizerConfig()
    if not output.endswith(".keras"):
        raise DlkitError(f"{output}: a stylizer model file must end in .keras")
    trainer = Trainer(train_config or TrainConfig(seed=config.seed, patience=None), output)
    style = _load(style_path)
    style = _resized(style, _fit(style.shape[1], style.shape[0], config.style_size))
    steps_per_epoch = min(config.steps, config.steps_per_epoch)
    epochs = max(1, config.steps // steps_per_epoch)
    dataset = _training_images(images, config.image_size, config.batch_size, config.seed).take(steps_per_epoch)
    with trainer.scope():
        network = LossNetwork(config.backbone, smooth=config.smooth, weights=config.weights)
        targets = [t.numpy() for t in style_grams(network, [style], [1.0])]
        model = PerceptualTrainer(transformation_network(config.width, config.residual_blocks), network,
                                  targets, config)
        model.compile(keras.optimizers.Adam(config.learning_rate), **trainer.compile_options())
        model(tf.zeros((1, config.image_size, config.image_size, 3)))  # build before restoring
    history = trainer.fit(model, trainer.distribute(dataset), None, epochs, callbacks=callbacks, monitor="loss")
    trainer.save(model.net, output)
    trainer.finish()
    return {"model": output, "steps": epochs * steps_per_epoch, "seconds": round(history["seconds"], 1),
            "first_loss": round(history["loss"][0], 4), "final_loss": round(history["loss"][-1], 4),
            "history": history}


# ---- Inference with a fast stylizer -----------------------------------------------------

class FastStylizer:
    """Applies a trained transformation network: one forward pass per photo, any size."""

    def __init__(self, model: "str | keras.Model"):
        self.model = modelio.load_model(model) if isinstance(model, str) else model

        @tf.function(reduce_retracing=True)
        def run(x):
            return self.model(x, training=False)

        self._run = run

    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        # the network downsamples twice: pad to a multiple of 4, crop back afterwards
        ph, pw = (-h) % 4, (-w) % 4
        padded = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="reflect")
        return self._run(tf.constant(padded[None], tf.float32))[0].numpy()[:h, :w]
