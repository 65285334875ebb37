"""Image captioning: a frozen CNN encoder and an LSTM decoder with soft attention.

    from dlkit.core.inputs import iter_paths
    from dlkit.tasks import captioner
    run = captioner.train("flickr8k/", "captioner/", captioner.Config(epochs=5))
    for record in captioner.load("captioner/").predict(iter_paths(["dog.jpg"])):
        print(record["caption"])          # {"input", "caption", "score"}
    captioner.evaluate("flickr8k/", "captioner/")   # BLEU-1..4 of the test split

The names below are imported on first use, so importing the package costs no TensorFlow.
"""

from dlkit.core.task import lazy_exports

# command: summary shown by `dlkit --help`; the commands live in .cli
COMMANDS = {
    "train-captioner": "Train an image captioner (CNN encoder + LSTM decoder with attention).",
    "caption": "Describe photos in a sentence.",
    "evaluate-captioner": "Corpus BLEU-1..4 of a captioner on a dataset split.",
}

__getattr__ = lazy_exports(__name__, {
    "Config": "config", "train": "model", "load": "model", "evaluate": "model", "Captioner": "model",
    "Caption": "model", "read_dataset": "data",
})
