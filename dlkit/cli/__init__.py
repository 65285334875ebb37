"""The `dlkit` command: a thin face over the library.

Commands are registered here by module and summary and imported only when run, so that
`dlkit --help` answers at once, without loading TensorFlow.
"""

import importlib
import os

import click

from dlkit import __version__

# name: (module in dlkit.cli, summary shown by `dlkit --help`)
COMMANDS = {
    "classify": ("classify", "Label photos with an ImageNet CNN or your own model."),
    "extract-features": ("features_svm", "Save CNN feature vectors of images (for SVMs and more)."),
    "train-svm": ("features_svm", "Train a linear or RBF SVM on CNN (or Sobel) features."),
    "predict-svm": ("features_svm", "Label images with a trained SVM."),
    "train-sentiment": ("sentiment", "Train a BiLSTM/GRU or n-gram sentiment classifier on labelled texts."),
    "sentiment": ("sentiment", "Label texts positive or negative (or your model's labels)."),
    "evaluate-sentiment": ("sentiment", "Accuracy, macro-F1 and confusion matrix of a sentiment model."),
    "word2vec": ("word2vec", "Train, query, evaluate and export Word2Vec word vectors."),
    "train-geolocator": ("geolocate", "Train a news geolocator (word vectors + gazetteer, great-circle loss)."),
    "geolocate": ("geolocate", "Predict where news texts are about: lat, lon and the nearest city."),
    "evaluate-geolocator": ("geolocate", "Mean/median great-circle error (km) and acc@161km of a geolocator."),
    "train-classifier": ("train_classifier", "Train an image classifier on class folders (transfer learning, LeNet-5, VGG, ...)."),
    "evaluate-classifier": ("train_classifier", "Accuracy, per-class precision/recall and confusion matrix of a classifier."),
    "import-mnist": ("train_classifier", "Write MNIST idx files as PNG class folders for train-classifier."),
    "stylize": ("stylize", "Repaint a photo in the style of an artwork (or with a trained fast stylizer)."),
    "train-stylizer": ("stylize", "Train a fast feed-forward stylizer for one style."),
    "train-translator": ("translate", "Train a seq2seq LSTM translator with attention on sentence pairs."),
    "translate": ("translate", "Translate sentences (English to French by default), line by line."),
    "evaluate-translator": ("translate", "sacreBLEU and chrF of a translator on held-out pairs."),
    "train-captioner": ("caption", "Train an image captioner (CNN encoder + LSTM decoder with attention)."),
    "caption": ("caption", "Describe photos in a sentence."),
    "evaluate-captioner": ("caption", "Corpus BLEU-1..4 of a captioner on a dataset split."),
    "quantize": ("quantize", "Store a model's Dense and Embedding weights as int8: a smaller file to ship."),
    "info": ("info", "Show versions, devices and where weights are cached."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module = importlib.import_module(f"dlkit.cli.{COMMANDS[name][0]}")
        return getattr(module, name.replace("-", "_"))

    def resolve_command(self, ctx, args):
        # TensorFlow is imported with the command's module, before the command's own
        # options are parsed; --verbose must be known by then to let its start-up through.
        if "--verbose" in args:
            os.environ["DLKIT_VERBOSE"] = "1"
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx, formatter):
        rows = [(name, summary) for name, (_, summary) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dlkit")
def cli():
    """Classic deep-learning models for vision and language, from the shell.

    \b
    Examples:
      dlkit classify holiday/*.jpg
      find photos -name '*.jpg' | dlkit classify - > labels.jsonl

    Results go to stdout (a table in a terminal, JSON Lines otherwise); progress and
    messages go to stderr. `dlkit COMMAND --help` describes each command.
    """


def main():
    cli(prog_name="dlkit")
