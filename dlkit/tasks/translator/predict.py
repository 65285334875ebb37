"""Translating sentences, without TensorFlow: SentencePiece cuts the sentence into
subwords here, the encoder and the one-subword step run on the translator's ONNX twin
(model.encoder.onnx and model.step.onnx beside model.keras, dlkit.core.twins), and beam
search picks the subwords in numpy (dlkit.core.search).

    from dlkit.core.inputs import iter_texts
    from dlkit.tasks.translator import load
    for record in load().predict(iter_texts(["Where is the station?"])):
        print(record["translation"])      # {"input", "translation", "score"}

runtime="keras" runs the same predictor on the Keras graphs (the parity tests, and
training's own scores).
"""

import os
from dataclasses import dataclass

import numpy as np

from dlkit.core import modelio, twins
from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events
from dlkit.core.inputs import as_items
from dlkit.core.search import TwinDecoder, check_sizes
from dlkit.core.task import Predictor
from dlkit.engines import EngineConfig, predictions
from dlkit.tasks.translator import TASK
from dlkit.tasks.translator.config import Config
from dlkit.tasks.translator.subwords import Subwords
from dlkit.text.tokens import pad

# The twin's two graphs, and what converts a translator's model.keras to them (TensorFlow's side).
GRAPHS = ("encoder", "step")
CONVERT = "dlkit.tasks.translator.twin:write"


@dataclass
class Translation:
    text: str
    score: float  # length-normalized log-probability (see dlkit.core.search)
    tokens: list[str]
    source_tokens: list[str]
    attention: np.ndarray | None = None  # (output tokens, source tokens)


class Translator(Predictor):
    """A trained translator: `predict(items)` gives {"input", "translation", "score"} per
    text; an empty text gets an empty translation.

    `decoder` has the search of an encoder-decoder (DecoderGraphs' or TwinDecoder's)
    whose encoder takes source subword ids (0-padded, each row ending in the end id);
    `decoding` holds the start and end ids, the longest output, the length penalty and
    the default beam (the twin's metadata, or the Exportable's)."""

    def __init__(self, decoder, src: Subwords, tgt: Subwords, config: Config, decoding: dict,
                 beam_size: int | None = None):
        self.decoder, self.src, self.tgt, self.config, self.decoding = decoder, src, tgt, config, decoding
        self.batch_size = config.batch_size
        self.beam_size = beam_size or decoding["beam_size"]

    def predict_batch(self, texts: list[str]) -> list[dict]:
        return [{"translation": t.text, "score": t.score} for t in self.translate(texts)]

    def predict_with_attention(self, text: str, out: str) -> dict:
        """The record of one text, drawing to `out` (PNG) where the model looked in it
        for each output subword."""
        translation = self.translate([text], with_attention=True)[0]
        attention_map(translation, out)
        return {"input": text, "translation": translation.text, "score": translation.score}

    def translate(self, texts: list[str], beam_size: int | None = None,
                  with_attention: bool = False) -> list[Translation]:
        """Translations in input order; empty texts stay empty."""
        beam = beam_size or self.beam_size
        longest, eos = self.decoding["max_length"], self.decoding["eos"]
        results: list[Translation | None] = [None] * len(texts)
        todo = [i for i, t in enumerate(texts) if t.strip()]
        for i, text in enumerate(texts):
            if not text.strip():
                results[i] = Translation("", 0.0, [], [])
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start: start + self.batch_size]
            ids = [row[: longest - 1] + [eos] for row in self.src.encode([texts[i] for i in chunk])]
            for i, translation in zip(chunk, self._decode(ids, beam, with_attention)):
                results[i] = translation
        return results

    def _decode(self, source_ids: list[list[int]], beam: int, with_attention: bool) -> list[Translation]:
        d = self.decoding
        source = pad(source_ids)
        best = self.decoder.search([source], beam, d["bos"], d["eos"], min(d["max_length"], 2 * source.shape[1] + 10),
                                   d["length_alpha"], with_attention)
        return [Translation(text=self.tgt.decode(h.tokens), score=round(h.score, 4),
                            tokens=self.tgt.pieces(h.tokens + [d["eos"]]), source_tokens=self.src.pieces(ids),
                            attention=h.attention[:, : len(ids)] if h.attention is not None else None)
                for h, ids in zip(best, source_ids)]


def load(path: str | None = None, beam_size: int | None = None, runtime: str = "onnx") -> Translator:
    """A translator folder written by train(); None: the English->French one dlkit ships.
    It runs on its ONNX twin (made on first use where TensorFlow is installed, for
    folders written before twins), or on Keras with runtime="keras"."""
    folder = path or modelio.pretrained_path(TASK.name)
    config, _ = modelio.read_folder(folder, "translator", "train-translator", Config,
                                    files=("model.keras", "source.spm", "target.spm"))
    try:
        src, tgt = (Subwords.read(os.path.join(folder, n)) for n in ("source.spm", "target.spm"))
    except Exception:
        raise DlkitError(f"{folder}: missing or damaged subword model") from None
    if runtime == "keras":
        from dlkit.tasks.translator.twin import exportable

        keras = exportable(folder)
        return Translator(keras.graphs, src, tgt, config, keras.decoding, beam_size)
    graphs = twins.load(os.path.join(folder, "model.keras"), GRAPHS, convert=CONVERT)
    decoding = graphs["encoder"].metadata
    for name, words in (("source.spm", src), ("target.spm", tgt)):
        check_sizes(decoding["vocabularies"][name], len(words), os.path.join(folder, name))
    return Translator(TwinDecoder(graphs["encoder"], graphs["step"]), src, tgt, config, decoding, beam_size)


def translate(items, model: str | None = None, settings: dict | None = None,
              engine: EngineConfig = EngineConfig(), events: Events = SILENT):
    """The records of `dlkit translate`: load(model, **settings).predict(items) here or on
    Ray; with settings["attention_map"] a PNG path, the one sentence's record with its
    attention drawn there."""
    settings = dict(settings or {})
    picture = settings.pop("attention_map", None)
    if picture is None:
        return predictions("dlkit.tasks.translator.predict:load", {"path": model, **settings}, items, engine, 64,
                           events)
    items = list(as_items(items))
    if len(items) != 1:
        raise DlkitError("--attention-map draws one sentence: give exactly one TEXT")
    if items[0].error:
        return [{"input": items[0].input, "error": items[0].error}]
    return [load(model, **settings).predict_with_attention(items[0].value, picture)]


def attention_map(translation: Translation, path: str) -> None:
    """Where the decoder looked in the source for each output subword."""
    from dlkit.core import plots

    if translation.attention is None:
        raise DlkitError("no attention weights to draw")
    plt = plots.pyplot()
    weights = translation.attention
    figure, axis = plt.subplots(figsize=(0.5 * len(translation.source_tokens) + 2, 0.4 * len(weights) + 1.5))
    axis.imshow(weights, cmap="viridis", aspect="auto")
    axis.set_xticks(range(len(translation.source_tokens)), translation.source_tokens, rotation=60, ha="right")
    axis.set_yticks(range(len(weights)), translation.tokens[: len(weights)])
    axis.set_xlabel("source")
    axis.set_ylabel("output")
    plots.save_figure(figure, path)
