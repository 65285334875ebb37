"""How much faster dlkit stylize reaches a given loss than the keras.io recipe, and how
fast a trained fast stylizer paints a 512 px photo. Everything runs in one process.

    python tasks/stylize/benchmark.py [--size 256] [--baseline-steps 300] [--backbone mobilenet_v2]

Baseline (keras.io "Neural style transfer"): plain gradient descent on the image with
SGD and ExponentialDecay(lr0, 100 steps, 0.96), at full size from the content photo;
lr0 is the best of a small grid (a pilot of a third of the steps each), so the baseline
is not handicapped by a learning rate tuned for another loss scale. dlkit: its defaults (L-BFGS,
coarse-to-fine). Both minimize the same loss (dlkit.stylize.StyleLoss) with the same
network; dlkit's clock runs until its full-size loss first reaches the baseline's final
loss, coarse scales included.
"""

import argparse
import os
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("DLKIT_SHARED", os.path.join(ROOT, "..", "shared"))
STYLE = os.path.join(SHARED, "data", "style")


class Reached(Exception):
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--content", default=os.path.join(STYLE, "content", "chelsea.png"))
    parser.add_argument("--style", default=os.path.join(STYLE, "style", "starry-night.jpg"))
    parser.add_argument("--backbone", default="mobilenet_v2")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--baseline-steps", type=int, default=300)
    parser.add_argument("--stylizer", default=None, help="a trained .keras stylizer to time (default: untrained)")
    args = parser.parse_args()

    import numpy as np

    from dlkit import runtime
    from dlkit.stylize import (FastStylizer, LossNetwork, StyleLoss, StylizeConfig, _fit, _load, _resized,
                               style_grams, stylize, transformation_network)

    runtime.setup("auto")
    tf, keras = runtime.tf, runtime.keras
    config = StylizeConfig(backbone=args.backbone, size=args.size)
    network = LossNetwork(args.backbone)
    content_full, style_full = _load(args.content), _load(args.style)
    w, h = _fit(content_full.shape[1], content_full.shape[0], args.size)
    content = _resized(content_full, (w, h))
    style = _resized(style_full, _fit(style_full.shape[1], style_full.shape[0], max(w, h)))
    loss = StyleLoss(network, content, style_grams(network, [style], [1.0]), config)

    @tf.function
    def value_and_grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            total, _ = loss(x[None])
        return total, tape.gradient(total, x)

    def gradient_descent(lr0: float, steps: int) -> tuple[float, float]:
        image = tf.Variable(content)
        sgd = keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(lr0, 100, 0.96))
        start = time.perf_counter()
        for _ in range(steps):
            total, grad = value_and_grad(tf.convert_to_tensor(image))
            sgd.apply_gradients([(grad, image)])
            image.assign(tf.clip_by_value(image, 0.0, 255.0))
        final, _ = value_and_grad(tf.convert_to_tensor(image))
        return float(final), time.perf_counter() - start

    value_and_grad(tf.constant(content))  # trace once, outside every clock
    pilots = {lr: gradient_descent(lr, args.baseline_steps // 3)[0] for lr in (1e2, 1e3, 1e4, 1e5, 1e6)}
    lr0 = min(pilots, key=lambda lr: pilots[lr] if np.isfinite(pilots[lr]) else np.inf)
    baseline_loss, baseline_seconds = gradient_descent(lr0, args.baseline_steps)

    # warm-up at the measured size: graph tracing stays outside the clock, as for the baseline
    stylize(args.content, [args.style], StylizeConfig(backbone=args.backbone, size=args.size, iterations=3),
            network=network)
    start = time.perf_counter()
    reached = {}

    def watch(i, losses, size):
        if size == (w, h) and losses["total"] <= baseline_loss:
            reached.update(seconds=time.perf_counter() - start, evaluations=i)
            raise Reached

    try:
        stylize(args.content, [args.style], StylizeConfig(backbone=args.backbone, size=args.size, iterations=1000),
                on_step=watch, network=network)
    except Reached:
        pass

    print(f"content {os.path.basename(args.content)}, style {os.path.basename(args.style)}, "
          f"{w}x{h}, loss network {args.backbone}")
    print(f"baseline: SGD lr0={lr0:g} (pilot losses {', '.join(f'{k:g}: {v:.3g}' for k, v in pilots.items())}), "
          f"{args.baseline_steps} steps -> loss {baseline_loss:.4f} in {baseline_seconds:.1f} s")
    if reached:
        print(f"dlkit (L-BFGS, coarse-to-fine): loss <= {baseline_loss:.4f} after {reached['evaluations']} "
              f"evaluations, {reached['seconds']:.1f} s")
        print(f"speed-up to the baseline's final loss: {baseline_seconds / reached['seconds']:.1f}x (target >= 5)")
    else:
        print("dlkit did not reach the baseline's loss within 1000 evaluations")

    # Speed does not depend on what the weights learned: an untrained network of the
    # default width times the same as a trained one.
    stylizer = FastStylizer(args.stylizer or transformation_network())
    photo = _resized(content_full, _fit(content_full.shape[1], content_full.shape[0], 512))
    stylizer(photo)  # trace
    times = []
    for _ in range(5):
        start = time.perf_counter()
        stylizer(photo)
        times.append(time.perf_counter() - start)
    print(f"fast stylizer on a {photo.shape[1]}x{photo.shape[0]} photo: {min(times):.3f} s (best of 5; target < 1 s)")


if __name__ == "__main__":
    main()
