"""Captioning photos, without TensorFlow: the photo is decoded here, the encoder (the
CNN and the decoder's start) and the one-word step run on the captioner's ONNX twin
(model.encoder.onnx and model.step.onnx beside model.keras, dlkit.core.twins), and beam
search picks the words in numpy (dlkit.core.search).

    from dlkit.core.inputs import iter_paths
    from dlkit.tasks.captioner import load
    for record in load().predict(iter_paths(["dog.jpg"])):
        print(record["caption"])          # {"input", "caption", "score"}

runtime="keras" runs the same predictor on the Keras graphs (the parity tests);
training scores its epochs with it, from the CNN features it cached.
"""

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from dlkit.core import modelio, twins
from dlkit.core.errors import DlkitError, ItemError
from dlkit.core.events import SILENT, Events
from dlkit.core.inputs import Item, as_items
from dlkit.core.search import TwinDecoder, check_sizes
from dlkit.engines import EngineConfig, predictions_or_attention_map
from dlkit.tasks.captioner import TASK
from dlkit.tasks.captioner.config import Config
from dlkit.tasks.captioner.guide import Guide
from dlkit.text.tokens import Vocabulary
from dlkit.vision.images import ImagePredictor, load_image, try_load_image

# The twin's two graphs, and what converts a captioner's model.keras to them (TensorFlow's side).
GRAPHS = ("encoder", "step")
CONVERT = "dlkit.tasks.captioner.twin:write"


@dataclass
class Caption:
    text: str
    score: float  # length-normalized log-probability (see dlkit.core.search)
    words: list[str]
    attention: np.ndarray | None = None  # (words + end, regions)


class Captioner(ImagePredictor):
    """A trained captioner: `predict(items)` gives {"input", "caption", "score"} per photo.

    `decoder` has the search of an encoder-decoder (DecoderGraphs' or TwinDecoder's) whose
    encoder takes RGB pixels 0..255 (training's takes cached CNN features instead);
    `decoding` holds the start and end ids, the banned ids, the longest caption, the
    length penalty and the default beam (the twin's metadata, or the Exportable's).
    `split_by`: how its training data was split (see CaptionData; None: not recorded).
    `guide` (a dlkit.tasks.captioner.guide.Guide, or None) makes the caption of a photo
    name what the ImageNet classifier is confident of."""

    def __init__(self, decoder, vocab: Vocabulary, config: Config, decoding: dict, beam_size: int | None = None,
                 split_by: str | None = None, guide=None):
        # The "network" of a captioner is the whole decoding: photos in, captions out.
        super().__init__(self.photos, config.image_size, batch_size=32)  # photos per batch of encoding and search
        self.decoder, self.vocab, self.config, self.decoding = decoder, vocab, config, decoding
        self.beam_size = beam_size or decoding["beam_size"]
        self.split_by, self.guide = split_by, guide

    def predict_images(self, images: np.ndarray) -> list[dict]:
        return [{"caption": c.text, "score": c.score} for c in self.outputs(images)]

    def photos(self, images: np.ndarray, beam_size: int | None = None, with_attention: bool = False) -> list[Caption]:
        """A Caption per uint8 photo, guided where the captioner has a guide."""
        required, avoided = self.guide.constraints(images) if self.guide else (None, None)
        return self.describe(images, beam_size, with_attention, required, avoided)

    def predict_with_attention(self, item: "Item | str", out: str) -> dict:
        """The record of one photo, drawing to `out` (PNG) where the model looked for each word."""
        item = next(as_items([item]))
        caption = ItemError(item.error) if item.error else self.captions([item.value], with_attention=True)[0]
        if isinstance(caption, ItemError):
            return {"input": item.input, "error": str(caption)}
        attention_map(item.value, caption, self.config.image_size, out)
        return {"input": item.input, "caption": caption.text, "score": caption.score, "attention_map": out}

    def captions(self, paths: list[str], beam_size: int | None = None, with_attention: bool = False,
                 advance=None) -> "list[Caption | ItemError]":
        """A Caption per path, or an ItemError for an unusable image; `advance(n)` after
        each batch."""
        found = []
        with ThreadPoolExecutor(os.cpu_count() or 2, thread_name_prefix="dlkit-decode") as pool:
            for start in range(0, len(paths), self.batch_size):
                decoded = list(pool.map(lambda p: try_load_image(p, self.input_size),
                                        paths[start: start + self.batch_size]))
                good = [pixels for pixels in decoded if not isinstance(pixels, ItemError)]
                described = iter(self.photos(np.stack(good), beam_size, with_attention) if good else ())
                found += [pixels if isinstance(pixels, ItemError) else next(described) for pixels in decoded]
                if advance:
                    advance(len(decoded))
        return found

    def describe(self, inputs: np.ndarray, beam_size: int | None = None, with_attention: bool = False,
                 required: "list[tuple[int, ...]] | None" = None,
                 avoided: "list[tuple[int, ...]] | None" = None) -> list[Caption]:
        """A Caption per row of the encoder's inputs (uint8 photos; CNN features where
        training decodes). A row with `required` token ids has a caption with one of
        them, and none of its `avoided` ones: it is searched apart, with a beam of `beam_size` for each state of the
        constrained search, so the others get the captions they get unguided."""
        d, beam = self.decoding, beam_size or self.beam_size
        required, avoided = required or [()] * len(inputs), avoided or [()] * len(inputs)
        found: list[Caption | None] = [None] * len(inputs)
        for guided in (False, True):
            rows = [i for i, r in enumerate(required) if bool(r) == guided]
            for start in range(0, len(rows), self.batch_size):
                batch = rows[start: start + self.batch_size]
                best = self.decoder.search([inputs[batch]], 2 * beam if guided else beam, d["bos"], d["eos"],
                                           d["max_length"], d["length_alpha"], with_attention, tuple(d["banned"]),
                                           **({"required": [required[i] for i in batch],
                                               "avoided": [avoided[i] for i in batch]} if guided else {}))
                for i, h in zip(batch, best):
                    words = self.vocab.decode(h.tokens)
                    found[i] = Caption(_sentence(words), round(h.score, 4), words, h.attention)
        return found


def _sentence(words: list[str]) -> str:
    text = " ".join(words)
    return (text[:1].upper() + text[1:] + ".") if text else ""


def load(path: str | None = None, beam_size: int | None = None, runtime: str = "onnx", guide: bool | None = None,
         guide_threshold: float | None = None) -> Captioner:
    """A captioner folder written by train(); None: the one dlkit ships. It runs on its
    ONNX twin (made on first use where TensorFlow is installed, for folders written
    before twins), or on Keras with runtime="keras". `guide` and `guide_threshold`
    (None: the Config's) make captions name what the ImageNet classifier is confident of
    (dlkit.tasks.captioner.guide)."""
    folder = path or modelio.pretrained_path(TASK.name)
    config, saved = modelio.read_folder(folder, "captioner", "train-captioner", Config,
                                        files=("model.keras", "vocab.json"))
    vocab_path = os.path.join(folder, "vocab.json")
    vocab = Vocabulary.load(vocab_path)
    if runtime == "keras":
        from dlkit.tasks.captioner.twin import exportable

        keras = exportable(folder)
        decoder, decoding = keras.graphs, keras.decoding
    else:
        graphs = twins.load(os.path.join(folder, "model.keras"), GRAPHS, convert=CONVERT)
        decoder, decoding = TwinDecoder(graphs["encoder"], graphs["step"]), graphs["encoder"].metadata
        check_sizes(decoding["vocabularies"]["vocab.json"], len(vocab), vocab_path)
    threshold = config.guide_threshold if guide_threshold is None else guide_threshold
    helper = Guide(vocab, threshold) if (config.guide if guide is None else guide) else None
    return Captioner(decoder, vocab, config, decoding, beam_size, saved.get("split_by"), helper)


def caption(items, model: str | None = None, settings: dict | None = None, engine: EngineConfig = EngineConfig(),
            events: Events = SILENT):
    """The records of `dlkit caption`: load(model, **settings).predict(items) here or on
    Ray; with settings["attention_map"] a PNG path, the one image's record with its
    attention map drawn there."""
    return predictions_or_attention_map("dlkit.tasks.captioner.predict:load", {"path": model, **(settings or {})},
                                        items, engine, 32, events, "IMAGE")


def attention_map(path: str, caption: Caption, image_size: int, out: str) -> None:
    """The photo once per word, shaded by where the model looked while writing it."""
    from dlkit.core import plots

    if caption.attention is None:
        raise DlkitError("this captioner has no attention to draw")
    plt = plots.pyplot()
    image = load_image(path, image_size)
    side = int(round(np.sqrt(caption.attention.shape[1])))
    shown = caption.words + ["<end>"]
    columns = min(5, len(shown))
    rows = -(-len(shown) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, 2.5 * rows), squeeze=False)
    for axis in axes.ravel():
        axis.axis("off")
    for axis, word, weights in zip(axes.ravel(), shown, caption.attention):
        axis.imshow(image)
        axis.imshow(weights[: side * side].reshape(side, side), cmap="gray", alpha=0.6,
                    extent=(0, image.shape[1], image.shape[0], 0), interpolation="bilinear")
        axis.set_title(word)
    figure.suptitle(caption.text)
    plots.save_figure(figure, out)
