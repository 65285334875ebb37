"""Sentiment inference and evaluation, without TensorFlow: a model folder's network runs
as its ONNX twin (model.onnx beside model.keras, dlkit.core.twins) on ONNX Runtime.

    from dlkit.tasks import sentiment
    for record in sentiment.load().predict(["What a wonderful film"]):   # the shipped model
        print(record)   # {"input": ..., "label": "positive", "score": 0.99}

Tokens, ids and padding are dlkit.text.tokens' (pure Python and numpy), the same for the
twin and, with runtime="keras", for the Keras model itself (training's own scoring and
the parity tests), so both runtimes see the same ids.
"""

import io
import os
from typing import Callable

import numpy as np

from dlkit.core import files, modelio, twins
from dlkit.core.config import load as load_config
from dlkit.core.errors import DlkitError, ItemError
from dlkit.core.events import SILENT, Events
from dlkit.core.metrics import classification
from dlkit.core.task import Predictor
from dlkit.tasks.sentiment import TASK
from dlkit.tasks.sentiment.config import Config
from dlkit.tasks.sentiment.data import Examples, canonical, encode, read_examples
from dlkit.text.tokens import Vocabulary, pad, tokenize

RUNTIMES = ("onnx", "keras")
# Texts per network call (see Sentiment.probabilities): measured on 2,000 SST-2 sentences,
# 64 ran fastest on both runtimes (32 and 128 did no better).
SLICE = 64


def load(path: str | None = None, batch_size: int = 256, runtime: str = "onnx") -> "Sentiment":
    """A model folder written by `train` (None: the shipped model), after checking
    that its parts fit together: one line naming the file and field otherwise. `runtime`
    "onnx" runs its twin (made on first use where TensorFlow is installed, if the folder
    has none), "keras" the Keras model."""
    if runtime not in RUNTIMES:
        raise DlkitError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    folder = path or modelio.pretrained_path(TASK.name)
    _, saved = modelio.read_folder(folder, "sentiment model", "train-sentiment",
                                   files=("config.json", "model.keras", "vocab.json"))
    source = os.path.join(folder, "config.json")
    labels = saved.get("labels")
    if not isinstance(labels, list) or not labels or not all(isinstance(label, str) for label in labels):
        raise DlkitError(f"{source}: labels must be a list of label names, not {labels!r}")
    mapping = saved.get("label_map") or {label: label for label in labels}
    if not isinstance(mapping, dict) or not set(mapping.values()) <= set(labels):
        raise DlkitError(f"{source}: label_map must map data labels to the labels {', '.join(labels)}")
    if "max_length" not in saved:
        raise DlkitError(f"{source}: no max_length")
    values = saved.get("settings", {})
    if not isinstance(values, dict):
        raise DlkitError(f"{source}: settings must be a JSON object, not {type(values).__name__}")
    # The top-level entries are what inference uses; "settings" records the rest of the Config.
    config = load_config(Config, {**values, **{k: saved[k] for k in ("max_length", "arch", "cell") if k in saved}},
                         source)
    vocabulary = Vocabulary.load(os.path.join(folder, "vocab.json"))
    model_file = os.path.join(folder, "model.keras")
    if runtime == "keras":
        from dlkit.core.runtime import network as keras_network
        from dlkit.tasks.sentiment.twin import describe

        model = modelio.load_model(model_file)
        facts, network = describe(model), keras_network(model)
    else:
        graph = twins.load(model_file, convert="dlkit.tasks.sentiment.twin:write")["model"]
        facts, network = graph.metadata, lambda ids: graph.run(ids)[0]
    if facts.get("outputs") != len(labels):
        raise DlkitError(f"{source}: labels names {len(labels)} labels, but model.keras gives {facts.get('outputs')} "
                         f"outputs")
    named = facts.get("labels")  # the labels the model itself was saved with
    if named is not None and named != labels:
        raise DlkitError(f"{source}: labels {', '.join(labels)} differ from model.keras' own ({', '.join(named)})")
    ids = facts.get("token_ids")
    if ids is not None and len(vocabulary) > ids:
        raise DlkitError(f"{os.path.join(folder, 'vocab.json')}: {len(vocabulary)} words, but model.keras embeds "
                         f"only {ids} token ids (a vocabulary from another model?)")
    return Sentiment(network, vocabulary, labels, config, mapping, saved, folder, batch_size)


class Sentiment(Predictor):
    """A loaded sentiment model (see `load`). `predict(texts)` gives one record per text:
    {"input", "label", "score"}, or "empty text" for a text without a word. `network`
    takes padded int32 token ids (texts, length) and gives class probabilities."""

    def __init__(self, network: Callable[[np.ndarray], np.ndarray], vocabulary: Vocabulary, labels: list[str],
                 config: Config, mapping: dict[str, str], settings: dict, path: str, batch_size: int = 256):
        self.network, self.vocabulary, self.labels, self.config = network, vocabulary, labels, config
        self.max_length = config.max_length
        # label_map: data label -> label name; settings: config.json as saved
        self.label_map, self.settings, self.path, self.batch_size = mapping, settings, path, batch_size

    def probabilities(self, texts: list[str]) -> np.ndarray:
        rows = encode(texts, self.vocabulary, self.max_length)
        # Shortest first, SLICE texts a call (or batch_size, if fewer), each call padded to
        # its longest text: a recurrent network steps through every padded position, so a
        # short text need not wait for the longest of its batch.
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        probabilities = np.zeros((len(rows), len(self.labels)), np.float32)
        size = min(SLICE, self.batch_size)
        for start in range(0, len(order), size):
            chosen = order[start:start + size]
            probabilities[chosen] = self.network(pad([rows[i] for i in chosen]))
        return probabilities

    def predict_batch(self, texts: list[str]) -> list:
        has_words = [bool(tokenize(text)) for text in texts]
        rows = iter(self.probabilities([text for text, words in zip(texts, has_words) if words]))
        results = []
        for words in has_words:
            if not words:
                results.append(ItemError("empty text"))
                continue
            row = next(rows)
            best = int(row.argmax())
            results.append({"label": self.labels[best], "score": round(float(row[best]), 6)})
        return results


# ---- Evaluation ------------------------------------------------------------------------

def evaluate(data: str, model: "str | Sentiment | None" = None, text_col: str | None = None,
             label_col: str | None = None, batch_size: int = 256, plot: str | None = None,
             events: Events = SILENT) -> dict:
    """A model's scores (a folder, None: the shipped one, or a loaded Sentiment) on
    labelled data (any layout read_examples reads; aclImdb: test/): "data", "model" and
    dlkit.core.metrics.classification's record (examples: the texts with a word,
    accuracy, macro_f1, per_class, confusion_matrix with rows the true label, labels: the
    model's); `plot`: also draw the matrix there ("confusion_plot")."""
    if plot:
        files.check_output(plot, what="plot")
    sentiment = model if isinstance(model, Sentiment) else load(model, batch_size)
    examples = read_examples(data, text_col, label_col, split="test", events=events)
    record = {"data": data, **score_examples(sentiment, examples, plot, title=os.path.basename(data))}
    events.message(confusion_text(record))  # the whole matrix, which a table cell cannot show
    return record


def score_examples(sentiment: Sentiment, examples: Examples, plot: str | None = None, title: str = "") -> dict:
    """"model" and the classification record of `sentiment` on `examples` (see evaluate)."""
    index = {name: i for i, name in enumerate(sentiment.labels)}
    mapping = sentiment.label_map
    named = [mapping.get(label) or mapping.get(canonical(label), label) for label in examples.labels]
    unknown = sorted(set(named) - set(index))
    if unknown:
        raise DlkitError(f"{examples.source}: labels the model does not know: {', '.join(unknown[:10])} "
                         f"(it knows {', '.join(sentiment.labels)})")
    keep = [i for i, text in enumerate(examples.texts) if tokenize(text)]
    truth = np.array([index[named[i]] for i in keep], dtype=np.int32)
    predicted = sentiment.probabilities([examples.texts[i] for i in keep]).argmax(axis=1)
    return {"model": sentiment.path, **scores(truth, predicted, sentiment.labels, plot, title)}


def scores(truth: np.ndarray, predicted: np.ndarray, labels: list[str], plot: str | None = None,
           title: str = "") -> dict:
    """dlkit.core.metrics.classification's record of label ids (indices into `labels`)."""
    return classification([labels[i] for i in truth], [labels[i] for i in predicted], labels, plot, title)


def confusion_text(matrix: "list[list[int]] | dict", labels: list[str] | None = None) -> str:
    """The confusion matrix as aligned text (rows: true label, columns: predicted): of a
    matrix and its labels, or of an evaluation record (its "confusion_matrix" and
    "labels")."""
    if isinstance(matrix, dict):
        matrix, labels = matrix["confusion_matrix"], matrix["labels"]
    width = max(8, *(len(label) + 1 for label in labels), *(len(str(v)) + 1 for row in matrix for v in row))
    buffer = io.StringIO()
    buffer.write("true \\ predicted".ljust(18) + "".join(label.rjust(width) for label in labels) + "\n")
    for label, row in zip(labels, matrix):
        buffer.write(label.ljust(18) + "".join(str(v).rjust(width) for v in row) + "\n")
    return buffer.getvalue().rstrip("\n")
