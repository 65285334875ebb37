"""Image captioning: a frozen CNN encoder and an LSTM decoder with soft attention.

    from dlkit.core.inputs import iter_paths
    from dlkit.tasks import captioner
    run = captioner.train("flickr8k/", "captioner/", captioner.Config(epochs=5))
    for record in captioner.load("captioner/").predict(iter_paths(["dog.jpg"])):
        print(record["caption"])          # {"input", "caption", "score"}
    captioner.evaluate("flickr8k/", "captioner/")   # BLEU-1..4 of the test split

Modules: config (settings), predict (load, caption, the attention map: no TensorFlow;
the photo is described by the ONNX twin), model (networks, train, evaluate), twin (its
inference graphs on TensorFlow, and writing the twin from them), data (datasets, cached
CNN features), guide (ImageNet classes as the words a caption must name; no
TensorFlow). The names below are imported on first use, so importing the package costs
no TensorFlow.
"""

import os

from dlkit.core.task import Argument, Evaluate, Fields, Predict, Task, Train, lazy_exports
from dlkit.tasks.captioner.config import AttentionMap, Config, EvaluateConfig, TrainData

MODEL_HELP = "Captioner folder [default: the shipped one]."


def _is_captioner(folder: str) -> bool:
    """A captioner folder: a vocabulary and a config naming an image backbone."""
    import json

    try:
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return False
    return (os.path.exists(os.path.join(folder, "vocab.json")) and isinstance(saved, dict)
            and "backbone" in (saved.get("config") or {}))


TASK = Task(
    name="captioner",
    summary="Describe photos in a sentence.",
    config=Config,
    train=Train(
        command="train-captioner",
        summary="Train an image captioner (CNN encoder + LSTM decoder with attention).",
        function="dlkit.tasks.captioner.model:train",
        data=Argument("data_dir"),
        output="Folder to write the captioner to.",
        options=(Fields(TrainData),),
        exclude=("beam_size", "guide", "guide_threshold"),
        patience=3,
        help="""Train an image captioner on DATA_DIR: Flickr8k as on Kaggle (Images/ +
    captions.txt), the original Flickr8k (Flickr8k.token.txt + split files) or COCO
    (captions_*.json). Image features are computed once and cached.

    \b
    Examples:
      dlkit train-captioner flickr8k/ -o captioner/
      dlkit train-captioner coco/ -o coco-captioner/ --min-count 10 --epochs 30
      dlkit caption photo.jpg --model captioner/
    """),
    predict=(Predict(
        command="caption",
        summary="Describe photos in a sentence.",
        load="dlkit.tasks.captioner.predict:load",
        run="dlkit.tasks.captioner.predict:caption",
        options=(Fields(Config, only=("beam_size", "guide", "guide_threshold")),),
        run_options=(Fields(AttentionMap),),
        columns={"input": None, "caption": None, "score": None},
        model_help=MODEL_HELP,
        serve="A sentence describing each photo.",
        help="""Describe INPUTS (image files, globs, folders, or - for paths on stdin) in a
    sentence. Their CNN features are not cached.

    \b
    Examples:
      dlkit caption photo.jpg
      dlkit caption holiday/ --beam-size 5 > captions.jsonl
      dlkit caption cat.jpg --no-guide            # the decoder's words alone
      dlkit caption dog.jpg --attention-map dog-attention.png
      dlkit caption photos/ --engine ray --workers 4 > captions.jsonl
    """),),
    evaluate=Evaluate(
        command="evaluate-captioner",
        summary="Corpus BLEU-1..4 of a captioner on a dataset split.",
        function="dlkit.tasks.captioner.model:evaluate",
        data=Argument("data_dir"),
        options=(Fields(EvaluateConfig), Fields(Config, only=("beam_size", "guide", "guide_threshold"))),
        model_help=MODEL_HELP,
        help="""Corpus BLEU-1..4 of a captioner against all reference captions of a split.

    \b
    Example:
      dlkit evaluate-captioner flickr8k/ --split test
    """),
    exports_decoder=_is_captioner,
)

__getattr__ = lazy_exports(__name__, {
    "train": "model", "load": "predict", "evaluate": "model", "caption": "predict", "Captioner": "predict",
    "Caption": "predict", "read_dataset": "data",
})
