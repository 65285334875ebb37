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
import re
from dataclasses import dataclass, field, replace

import numpy as np

from dlkit.core import modelio, twins
from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events
from dlkit.core.inputs import Item, as_items
from dlkit.core.search import TwinDecoder, check_sizes
from dlkit.core.task import Predictor
from dlkit.engines import EngineConfig, predictions_or_attention_map
from dlkit.tasks.translator import TASK, placeholders
from dlkit.tasks.translator.config import Config
from dlkit.tasks.translator.subwords import UNK, WORD_START, Subwords
from dlkit.text.tokens import pad, split_sentences

# The twin's two graphs, and what converts a translator's model.keras to them (TensorFlow's side).
GRAPHS = ("encoder", "step")
CONVERT = "dlkit.tasks.translator.twin:write"


# A capitalised span is carried over as a name where the model, translating it alone, writes
# it unchanged or is this unsure of what it writes (mean log-probability per subword): a
# word it translates surely ("London" -> "Londres", "Senate" -> "Sénat") stays. Chosen
# on newstest2014 (tasks/translator/README.md): -0.5 / -0.75 / -1.0 / -1.5 gave BLEU
# 11.08 / 11.56 / 11.76 / 11.43; carrying every span 10.93, only the unchanged ones 10.67.
NAME_CONFIDENCE = -1.0
# An input is flagged when this share of its subwords is unknown to the model (letters
# or symbols its training text never had): the translation is guesswork.
UNKNOWN_SHARE = 0.1
# A sentence of more than PART_LENGTH source subwords (or (max_length - 1) / 2 for a model
# taught shorter sentences) is translated in parts (Translator._parts). Both shipped
# translators, taught mostly Tatoeba's short sentences, lose content on long ones well
# before their output room is full (a translation runs 1.22 times its source's subwords).
# Chosen on newstest2014, beam 4. The LSTM (max_length 40): parts of 39 / 30 / 24 / 19 /
# 15 / 13 subwords gave BLEU 4.52 / 4.69 / 4.79 / 4.78 / 4.47 / 4.15 and chrF 26.3 / 27.9 /
# 28.7 / 29.1 / 28.9 / 28.5. The Transformer (max_length 96): 47 / 31 / 23 / 19 gave BLEU
# 7.41 / 7.85 / 8.05 / 8.05 and chrF 30.7 / 32.5 / 33.4 / 33.9; after its news fine-tune,
# 23 / 19 gave BLEU 8.94 / 9.11 and chrF 35.5 / 36.1. With parts joined as one sentence
# (_seamed) and windows cut between words: the Transformer 13 / 15 / 17 / 19 / 23 gave BLEU
# 10.30 / 10.45 / 10.43 / 10.39 / 10.17, the LSTM 15 / 19 gave 5.45 / 5.65 (the LSTM is
# the default to train, so 19 stays). With numbers and names put back (placeholders), the
# Transformer at 15 / 17 / 19 / 23 gave BLEU 11.85 / 11.85 / 11.83 / 11.53, and Tatoeba
# held-out at 15 fell 0.11 BLEU: 19 still.
PART_LENGTH = 19


@dataclass
class Translation:
    text: str
    score: float  # length-normalized log-probability (see dlkit.core.search)
    tokens: list[str]
    source_tokens: list[str]
    attention: np.ndarray | None = None  # (output tokens, source tokens)
    # Mean log-probability of the output's subwords (the end included): how sure the model
    # was of each subword it wrote, comparable across lengths and models.
    confidence: float = 0.0
    warnings: list[str] = field(default_factory=list)  # the input is beyond what the model was trained on
    source: str = ""  # the text of source_tokens


class Translator(Predictor):
    """A trained translator: `predict(items)` gives {"input", "translation", "score",
    "confidence"} per text, and "warning" where the text is beyond what the model was
    trained on; an empty text gets an empty translation. A text of several sentences is
    translated a sentence at a time (the model learnt from single sentences), and a
    sentence longer than the model reads at once a clause at a time, in order.

    `decoder` has the search of an encoder-decoder (DecoderGraphs' or TwinDecoder's)
    whose encoder takes source subword ids (0-padded, each row ending in the end id);
    `decoding` holds the start and end ids, the longest output, the length penalty and
    the default beam (the twin's metadata, or the Exportable's); `names`, the names that
    stand in for names the model would garble (placeholders.name_placeholders)."""

    def __init__(self, decoder, src: Subwords, tgt: Subwords, config: Config, decoding: dict,
                 beam_size: int | None = None, names: list[str] = ()):
        self.decoder, self.src, self.tgt, self.config, self.decoding = decoder, src, tgt, config, decoding
        self.batch_size = config.batch_size
        self.beam_size = beam_size or decoding["beam_size"]
        self.numbers, self.names = placeholders.number_placeholders(src, tgt), list(names)
        # The most source subwords translated at once. Training kept pairs whose both sides
        # fit max_length, and outputs stop there: a longer source would need an output
        # longer than any the model has written, and long sources lose content sooner
        # (PART_LENGTH).
        self.room = min(PART_LENGTH, (decoding["max_length"] - 1) // 2)

    def predict_batch(self, texts: list[str]) -> list[dict]:
        return [_record(t) for t in self.translate(texts)]

    def predict_with_attention(self, item: "Item | str", out: str) -> dict:
        """The record of one text, drawing to `out` (PNG) where the model looked in it
        for each output subword."""
        item = next(as_items([item]))
        if item.error:
            return {"input": item.input, "error": item.error}
        translation = self.translate([item.value], with_attention=True)[0]
        attention_map(translation, out)
        return {"input": item.input, **_record(translation), "attention_map": out}

    def translate(self, texts: list[str], beam_size: int | None = None,
                  with_attention: bool = False) -> list[Translation]:
        """Translations in input order; empty texts stay empty. Numbers the model would
        read in pieces, and names it would garble, are translated as placeholders and put
        back (dlkit.tasks.translator.placeholders)."""
        beam = beam_size or self.beam_size
        names = self._carried_names(texts)
        masked = [placeholders.masked(text, self.src, self.numbers, self.names, names, self.config.number_format)
                  for text in texts]
        parts = [self._parts(text) for text, _ in masked]  # per text: (subword ids of each part, warnings)
        flat = [ids for ids, _ in parts for ids in ids]
        decoded = []
        for start in range(0, len(flat), self.batch_size):
            decoded += self._decode(flat[start: start + self.batch_size], beam, with_attention)
        results, at = [], 0
        for (ids, warnings), (_, carried) in zip(parts, masked):
            for i in range(at, at + len(ids) - 1):
                decoded[i], decoded[i + 1] = _seamed(decoded[i], decoded[i + 1])
            results.append(placeholders.restored(_joined(decoded[at: at + len(ids)], warnings), carried))
            at += len(ids)
        return results

    def _carried_names(self, texts: list[str]) -> set[str]:
        """Of the capitalised spans in `texts` (placeholders.NAME), those to carry over as
        names (NAME_CONFIDENCE): each distinct span translated alone, greedily."""
        spans = sorted({span for text in texts for span in placeholders.name_spans(text, self.src)}
                       if self.names else ())
        readable = [(span, ids + [self.decoding["eos"]]) for span, ids in zip(spans, self.src.encode(spans))
                    if len(ids) < self.room]
        spans, ids = [span for span, _ in readable], [ids for _, ids in readable]
        alone = []
        for start in range(0, len(ids), self.batch_size):
            alone += self._decode(ids[start: start + self.batch_size], 1, False)
        return {span for span, t in zip(spans, alone)
                if t.text.strip(" .!?") == span or t.confidence < NAME_CONFIDENCE}

    def _parts(self, text: str) -> tuple[list[list[int]], list[str]]:
        """The subword ids of each part of `text` the model translates on its own (its
        sentences; of a sentence longer than the model reads, its clauses, or windows of a
        clause longer still), each ending in the end id; and warnings on the text."""
        parts, warnings, unknown, total = [], [], 0, 0
        for sentence in split_sentences(text):
            ids = self.src.encode([sentence])[0]
            unknown, total = unknown + ids.count(UNK), total + len(ids)
            if len(ids) > self.room:
                warnings.append(f"a sentence of {len(ids)} subwords, longer than the {self.room} the model "
                                f"translates at once: translated in parts")
                parts += self._clauses(sentence, self.room)
            else:
                parts.append(ids)
        if total and unknown / total >= UNKNOWN_SHARE:
            warnings.append(f"{unknown / total:.0%} of its subwords are unknown to the model")
        return [ids + [self.decoding["eos"]] for ids in parts], warnings

    def _clauses(self, sentence: str, room: int) -> list[list[int]]:
        """A long sentence's clauses (cut after , ; :) packed into parts of at most `room`
        subwords; a clause longer than that is cut into windows of about equal length,
        between words where it can be."""
        parts: list[list[int]] = []
        for clause in self.src.encode(re.split(r"(?<=[,;:])\s+", sentence)):
            if parts and len(parts[-1]) + len(clause) <= room:
                parts[-1] = parts[-1] + clause
            else:
                parts += self._windows(clause, room)
        return parts

    def _windows(self, ids: list[int], room: int) -> list[list[int]]:
        """`ids` cut into as few windows of at most `room` subwords as fit them, of about
        equal length, each cut moved back to the start of a word where one is near: a
        window that ends inside a word ("Hasan I" | "khrata") loses the word in both."""
        starts = [i for i, piece in enumerate(self.src.pieces(ids)) if piece.startswith(WORD_START)]
        windows, at = [], 0
        while len(ids) - at > room:
            left = -(-(len(ids) - at) // room)  # windows still needed
            end = at + -(-(len(ids) - at) // left)
            end = max((i for i in starts if at + room // 2 < i <= end), default=end)
            windows.append(ids[at: end])
            at = end
        return windows + [ids[at:]]

    def _decode(self, source_ids: list[list[int]], beam: int, with_attention: bool) -> list[Translation]:
        d = self.decoding
        source = pad(source_ids)
        best = self.decoder.search([source], beam, d["bos"], d["eos"], min(d["max_length"], 2 * source.shape[1] + 10),
                                   d["length_alpha"], with_attention)
        return [Translation(text=self.tgt.decode(h.tokens), score=round(h.score, 4),
                            tokens=self.tgt.pieces(h.tokens + [d["eos"]]), source_tokens=self.src.pieces(ids),
                            attention=h.attention[:, : len(ids)] if h.attention is not None else None,
                            confidence=h.log_prob / (len(h.tokens) + 1), source=self.src.decode(ids))
                for h, ids in zip(best, source_ids)]


def _seamed(part: Translation, following: Translation) -> tuple[Translation, Translation]:
    """Two consecutive parts of one text, joined where the source was cut: the model
    translated each as a whole sentence, so a part ending in the middle of a sentence
    loses the full stop it was given (a comma where its source has one), and a part
    starting there its capital."""
    source = part.source.rstrip(" \"')»”’")  # 'do."' ends its sentence as 'do.' does
    text = part.text.rstrip(" .!?")
    if source and source[-1] not in ".!?" and text:
        part = replace(part, text=text + "," if source[-1] == "," and not text.endswith(",") else text)
    word = following.text.split(" ", 1)[0]
    if following.source.strip()[:1].islower() and word[:1].isupper() and not word[1:2].isupper():  # GPS stays
        following = replace(following, text=following.text[0].lower() + following.text[1:])
    return part, following


def _joined(parts: list[Translation], warnings: list[str]) -> Translation:
    """One text's translation from its parts' (none: an empty text): texts joined by a
    space, score and confidence averaged over the output subwords, attention laid out
    block by block (each part looked only at its own source)."""
    if not parts:
        return Translation("", 0.0, [], [], warnings=warnings)
    if len(parts) == 1:
        part = parts[0]
        return Translation(part.text, part.score, part.tokens, part.source_tokens, part.attention,
                           round(part.confidence, 4), warnings)
    sizes = np.array([len(p.tokens) for p in parts], float)
    attention = None
    if all(p.attention is not None for p in parts):
        attention = np.zeros((int(sizes.sum()), sum(len(p.source_tokens) for p in parts)), np.float32)
        row = column = 0
        for p in parts:
            attention[row: row + len(p.tokens), column: column + len(p.source_tokens)] = p.attention
            row, column = row + len(p.tokens), column + len(p.source_tokens)
    return Translation(" ".join(p.text for p in parts if p.text), round(float(sizes @ [p.score for p in parts]
                                                                             / sizes.sum()), 4),
                       [t for p in parts for t in p.tokens], [t for p in parts for t in p.source_tokens], attention,
                       round(float(sizes @ [p.confidence for p in parts] / sizes.sum()), 4), warnings)


def _record(translation: Translation) -> dict:
    record = {"translation": translation.text, "score": translation.score, "confidence": translation.confidence}
    if translation.warnings:
        record["warning"] = "; ".join(translation.warnings)
    return record


def load(path: str | None = None, beam_size: int | None = None, runtime: str = "onnx") -> Translator:
    """A translator folder written by train(); None: the English->French one dlkit ships.
    It runs on its ONNX twin (made on first use where TensorFlow is installed, for
    folders written before twins), or on Keras with runtime="keras"."""
    folder = path or modelio.pretrained_path(TASK.name)
    config, saved = modelio.read_folder(folder, "translator", "train-translator", Config,
                                        files=("model.keras", "source.spm", "target.spm"))
    names = placeholders.checked_names(saved.get("name_placeholders", []), os.path.join(folder, "config.json"))
    try:
        src, tgt = (Subwords.read(os.path.join(folder, n)) for n in ("source.spm", "target.spm"))
    except Exception:
        raise DlkitError(f"{folder}: missing or damaged subword model") from None
    if runtime == "keras":
        from dlkit.tasks.translator.twin import exportable

        keras = exportable(folder)
        return Translator(keras.graphs, src, tgt, config, keras.decoding, beam_size, names)
    graphs = twins.load(os.path.join(folder, "model.keras"), GRAPHS, convert=CONVERT)
    # The length penalty is a choice of the search, not of the network: the folder's
    # config.json says it (a twin's metadata keeps the value it was exported with).
    decoding = {**graphs["encoder"].metadata, "length_alpha": config.length_alpha}
    for name, words in (("source.spm", src), ("target.spm", tgt)):
        check_sizes(decoding["vocabularies"][name], len(words), os.path.join(folder, name))
    return Translator(TwinDecoder(graphs["encoder"], graphs["step"]), src, tgt, config, decoding, beam_size, names)


def translate(items, model: str | None = None, settings: dict | None = None,
              engine: EngineConfig = EngineConfig(), events: Events = SILENT):
    """The records of `dlkit translate`: load(model, **settings).predict(items) here or on
    Ray; with settings["attention_map"] a PNG path, the one text's record with its
    attention drawn there."""
    return predictions_or_attention_map("dlkit.tasks.translator.predict:load", {"path": model, **(settings or {})},
                                        items, engine, 64, events, "TEXT")


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
