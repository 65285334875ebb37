"""Neural style transfer: Gatys et al.'s optimisation and Johnson et al.'s fast stylizer.

    from dlkit.tasks import stylize
    image, report = stylize.stylize("photo.jpg", ["starry.jpg"], stylize.StylizeConfig(size=512))
    stylize.save_image(image, "out.jpg")
    record = stylize.stylize_to("photo.jpg", ["starry.jpg"], "out.jpg")      # what `dlkit stylize` does
    run = stylize.train("starry.jpg", "starry.keras", images="photos/")       # a fast stylizer
    for record in stylize.load("starry.keras").predict(["holiday.jpg"]):
        stylize.save_image(record["image"], "painted.jpg")

Modules: config (settings, no TensorFlow), images (reading and writing pictures), model
(the loss network, the optimisation), fast (training a fast stylizer), predict (running
it on its ONNX twin, no TensorFlow), twin (writing that twin), cli (stylize, in both
modes).
"""

from dlkit.core.task import Argument, Fields, Predict, Task, Train, lazy_exports
from dlkit.tasks.stylize.config import StylizeConfig, StylizerConfig, TrainData

Config = StylizerConfig  # the settings train() takes, under every task's name for them

TASK = Task(
    name="stylize",
    summary="Neural style transfer.",
    config=StylizerConfig,
    train=Train(
        command="train-stylizer",
        summary="Train a fast feed-forward stylizer for one style.",
        function="dlkit.tasks.stylize.fast:train",
        data=Argument("style"),
        output="The stylizer to write (.keras).",
        options=(Fields(TrainData),),
        patience=None,  # trained by steps, without a validation set
        help="""Train a fast stylizer for STYLE: afterwards `dlkit stylize --model` paints any
    photo in one forward pass.

    \b
    Examples:
      dlkit train-stylizer starry.jpg --images flickr8k/Images -o starry.keras
      dlkit stylize photo.jpg --model starry.keras -o out.jpg
    """),
    # The stylize command is hand-written (.cli: optimisation or a fast stylizer); the
    # server answers with a fast stylizer's pictures.
    predict=(Predict(
        command="stylize",
        summary="Repaint a photo in the style of an artwork (or with a trained fast stylizer).",
        load="dlkit.tasks.stylize.predict:load",
        model="required",
        model_help="A fast stylizer from train-stylizer.",
        serve="Photos repainted by a fast stylizer (PNG data URLs).",
        help="",
        cli=False,
    ),),
    commands={"stylize": ("dlkit.tasks.stylize.cli",
                          "Repaint a photo in the style of an artwork (or with a trained fast stylizer).")},
)

__getattr__ = lazy_exports(__name__, {
    "stylize": "model", "stylize_to": "model", "StylizeReport": "model", "LossNetwork": "model",
    "read_image": "images", "save_image": "images", "check_image_output": "images",
    "train": "fast", "load": "predict", "stylize_files": "predict", "FastStylizer": "predict",
})
