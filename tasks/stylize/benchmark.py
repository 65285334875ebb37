"""How much faster dlkit stylize reaches a given loss than the keras.io recipe, and how
fast a trained fast stylizer paints a 512 px photo. Everything runs in one process.

    python tasks/stylize/benchmark.py [--size 256] [--baseline-steps 300] [--backbone mobilenet_v2]

Baseline (keras.io "Neural style transfer"): plain gradient descent on the image with
SGD and ExponentialDecay(lr0, 100 steps, 0.96), at full size from the content photo;
lr0 is the best of a small grid (a pilot of a third of the steps each), so the baseline
is not handicapped by a learning rate tuned for another loss scale. dlkit: its defaults (L-BFGS,
coarse-to-fine). Both minimize the same loss (dlkit.tasks.stylize.model.StyleLoss) with the same
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


def watching(on_evaluation):
    """Events whose progress calls `on_evaluation(size, loss)` after each loss evaluation
    of dlkit's stylize (size: "WIDTHxHEIGHT" of the scale being optimized)."""
    import contextlib

    from dlkit.core.events import Events

    class Watch(Events):
        def progress(self, total, description):
            return contextlib.nullcontext(lambda n=1, size="", loss=None: on_evaluation(size, loss))

    return Watch()


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

    from dlkit.core import modelio, runtime
    from dlkit.tasks.stylize.config import StylizeConfig
    from dlkit.tasks.stylize.fast import FastStylizer, transformation_network
    from dlkit.tasks.stylize.model import LossNetwork, StyleLoss, fit_size, read_image, resized, style_grams, stylize

    runtime.setup("auto")
    tf, keras = runtime.tf, runtime.keras
    config = StylizeConfig(backbone=args.backbone, size=args.size)
    network = LossNetwork(args.backbone)
    content_full, style_full = read_image(args.content), read_image(args.style)
    w, h = fit_size(content_full.shape[1], content_full.shape[0], args.size)
    content = resized(content_full, (w, h))
    style = resized(style_full, fit_size(style_full.shape[1], style_full.shape[0], max(w, h)))
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
    evaluations = 0

    def watch(size, loss):
        nonlocal evaluations
        evaluations += 1
        if size == f"{w}x{h}" and loss <= baseline_loss:
            reached.update(seconds=time.perf_counter() - start, evaluations=evaluations)
            raise Reached

    try:
        stylize(args.content, [args.style], StylizeConfig(backbone=args.backbone, size=args.size, iterations=1000),
                watching(watch), network=network)
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
    stylizer = FastStylizer(modelio.load_model(args.stylizer) if args.stylizer else transformation_network())
    photo = resized(content_full, fit_size(content_full.shape[1], content_full.shape[0], 512))
    stylizer.paint(photo)  # trace
    times = []
    for _ in range(5):
        start = time.perf_counter()
        stylizer.paint(photo)
        times.append(time.perf_counter() - start)
    print(f"fast stylizer on a {photo.shape[1]}x{photo.shape[0]} photo: {min(times):.3f} s (best of 5; target < 1 s)")


if __name__ == "__main__":
    main()
