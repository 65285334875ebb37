"""Neural style transfer: Gatys et al.'s optimisation and Johnson et al.'s fast stylizer.

    from dlkit.tasks import stylize
    image, report = stylize.stylize("photo.jpg", ["starry.jpg"], stylize.StylizeConfig(size=512))
    stylize.save_image(image, "out.jpg")
    run = stylize.train("photos/", "starry.keras", style="starry.jpg")   # a fast stylizer
    for record in stylize.load("starry.keras").predict(["holiday.jpg"]):
        stylize.save_image(record["image"], "painted.jpg")

Modules: config (settings, no TensorFlow), model (images, the loss network, the
optimisation), fast (the fast stylizer: train, load), cli.
"""

from dlkit.core.task import lazy_exports

# command: summary shown by `dlkit --help`; the commands live in .cli
COMMANDS = {
    "stylize": "Repaint a photo in the style of an artwork (or with a trained fast stylizer).",
    "train-stylizer": "Train a fast feed-forward stylizer for one style.",
}

__getattr__ = lazy_exports(__name__, {
    "StylizeConfig": "config", "StylizerConfig": "config",
    "stylize": "model", "StylizeReport": "model", "LossNetwork": "model", "read_image": "model",
    "save_image": "model", "check_image_output": "model",
    "train": "fast", "load": "fast", "FastStylizer": "fast",
})
