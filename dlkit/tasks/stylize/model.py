"""Neural style transfer by optimisation (Gatys et al.): a picture whose features match
a photo's content and whose Gram matrices match a painting's style, found with L-BFGS
from coarse to fine scales. The loss network and losses serve the fast stylizer too
(.fast).

    from dlkit.tasks.stylize import StylizeConfig, stylize, save_image
    image, report = stylize("photo.jpg", ["starry.jpg"], StylizeConfig(size=512))
    save_image(image, "out.jpg")
"""

import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image

from dlkit.core.config import validate
from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events
from dlkit.core.runtime import keras, tf
from dlkit.tasks.stylize.config import LAYERS, PIXELS, StylizeConfig
from dlkit.tasks.stylize.images import (check_image_output, fit_size, preserve_colors, read_image, resized,
                                        save_image)
from dlkit.vision import backbones


# ---- Model: the loss network -----------------------------------------------------------

class LossNetwork:
    """Content features and (smoothed) Gram matrices of a frozen ImageNet CNN."""

    def __init__(self, backbone: str, content_layers=None, style_layers=None, smooth=False, weights="imagenet"):
        if backbone not in LAYERS:
            raise DlkitError(f"no style layers known for {backbone}; choose one of {', '.join(LAYERS)}")
        self.backbone = backbones.get(backbone)
        default_content, default_style = LAYERS[backbone]
        self.content_layers = list(content_layers or default_content)
        self.style_layers = list(style_layers or default_style)
        self.smooth = smooth
        base = backbones.build(backbone, include_top=False, weights=weights, any_size=True,
                               advice=offline_advice(backbone))
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


def offline_advice(backbone: str) -> str | None:
    """What a user without `backbone`'s download can do instead: MobileNetV2 (the network
    `dlkit classify` uses) has small weights, often in Keras' cache already."""
    if backbone == "mobilenet_v2":
        return None
    if backbones.is_cached("mobilenet_v2"):
        return "or pass --backbone mobilenet_v2, whose weights are there already"
    url = backbones.get("mobilenet_v2").weight_url(include_top=False)
    return f"or pass --backbone mobilenet_v2, which needs only {url} (9 MB)"


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
    content_loss = tf.add_n([relative_loss(f, t) for f, t in zip(content, content_targets)]) / len(content)
    style_loss = tf.add_n([relative_loss(g, t) for g, t in zip(grams, style_targets)]) / len(grams)
    tv = total_variation(image)
    total = weights[0] * content_loss + weights[1] * style_loss + weights[2] * tv
    return total, {"content": content_loss, "style": style_loss, "tv": tv}


@tf.function(reduce_retracing=True)
def _value_and_grad(network, image, content_targets, style_targets, weights):
    with tf.GradientTape() as tape:
        tape.watch(image)
        total, parts = _style_loss(network, image[None], content_targets, style_targets, weights)
    return total, parts, tape.gradient(total, image)


def relative_loss(value, target):
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
            events: Events = SILENT, on_image: Callable[[int, np.ndarray], None] | None = None,
            network: LossNetwork | None = None) -> tuple[np.ndarray, StylizeReport]:
    """The stylized image (float RGB 0..255, longest side config.size) and a report.

    Progress goes to `events`: one step per loss evaluation, with the scale's size and
    the loss. `on_image(evaluation, image)` gets every intermediate image (for
    --save-every); `network` reuses a LossNetwork already built (benchmarks)."""
    config = validate(config or StylizeConfig())
    if not style_paths:
        raise DlkitError("give at least one style image")
    if config.size > config.max_size:
        raise DlkitError(f"--size {config.size} exceeds --max-size {config.max_size}: memory grows with the "
                         f"pixel count; raise --max-size if this machine has the memory")
    weights = list(config.style_weights or [1.0] * len(style_paths))
    if len(weights) != len(style_paths) or not all(0 <= w < math.inf for w in weights) or sum(weights) <= 0:
        raise DlkitError(f"--style-weights needs {len(style_paths)} non-negative numbers, not all zero")
    if config.seed is not None:
        tf.random.set_seed(config.seed)
    content_full = read_image(content_path)
    styles_full = [read_image(p) for p in style_paths]
    width, height = fit_size(content_full.shape[1], content_full.shape[0], config.size)
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
    with events.progress(config.iterations, "stylizing") as advance:
        for (w, h), budget in zip(sizes, budgets):
            content = resized(content_full, (w, h))
            styles = [resized(s, fit_size(s.shape[1], s.shape[0], max(w, h))) for s in styles_full]
            loss = StyleLoss(network, content, style_grams(network, styles, weights), config)
            if image is None:
                image = _initial(config.init, content, styles[0], rng)
            else:
                image = tf.image.resize(image[None], (h, w), method="bicubic")[0].numpy()

            def evaluated(x, size=f"{w}x{h}"):
                advance(1, size=size, loss=report.losses["total"])
                if on_image:
                    on_image(report.iterations, x)

            image = _optimize(loss, image, budget, config, report, evaluated)
    report.seconds = time.perf_counter() - start
    if config.preserve_color:
        image = preserve_colors(image, resized(content_full, (width, height)))
    return image, report


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
    return rng.uniform(0, 255, content.shape).astype(np.float32)  # noise


def _optimize(loss: StyleLoss, image: np.ndarray, evaluations: int, config: StylizeConfig,
              report: StylizeReport, evaluated: Callable[[np.ndarray], None]) -> np.ndarray:
    shape = image.shape
    value_and_grad = loss.value_and_grad

    def record(total, parts, x):
        report.iterations += 1
        report.history.append(float(total))
        report.losses = {"total": float(total), **{k: float(v) for k, v in parts.items()}}
        evaluated(x)

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


def stylize_to(content: str, styles: list[str], output: str, config: StylizeConfig | None = None,
               events: Events = SILENT, save_every: int | None = None) -> dict:
    """What `dlkit stylize CONTENT STYLE... -o OUTPUT` does: stylize() written to the
    image `output` (checked before any work), and also to OUTPUT-NNNN.ext every
    `save_every` evaluations; returns the record {"input", "output", "styles", sizes,
    iterations, seconds, losses}."""
    check_image_output(output)
    stem, suffix = os.path.splitext(output)

    def save_image_at(i: int, image: np.ndarray) -> None:
        if i % save_every == 0:
            save_image(image, f"{stem}-{i:04d}{suffix}")

    image, report = stylize(content, styles, config, events, on_image=save_image_at if save_every else None)
    save_image(image, output)
    return {"input": content, "output": output, "styles": styles, "width": report.size[0],
            "height": report.size[1], "iterations": report.iterations, "seconds": round(report.seconds, 2),
            "first_loss": round(report.history[0], 4),
            **{f"{k}_loss": round(v, 5) for k, v in report.losses.items()}}
