"""Machine translation: a sequence-to-sequence LSTM with attention over subwords.

An (optionally bidirectional) LSTM or GRU encoder reads the source sentence, an LSTM or
GRU decoder writes the target one subword at a time, and attention (Luong's
multiplicative or Bahdanau's additive) lets each output step look back at every source
position. SentencePiece subwords, learned from the training data and saved with the
model, keep unseen words and names from collapsing into one unknown token.

    from dlkit.core.inputs import iter_texts
    from dlkit.tasks import translator
    for record in translator.load().predict(iter_texts(["Where is the station?"])):
        print(record["translation"])
"""

import os
from dataclasses import dataclass

import numpy as np

from dlkit.core import files, metrics, modelio
from dlkit.core.config import validate
from dlkit.core.decoding import (DecoderGraphs, Exportable, check_vocabulary, compile_decoder, fit_decoder,
                                  unmasked)
from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events
from dlkit.core.runtime import keras, tf
from dlkit.core.task import Predictor, Run
from dlkit.core.training import TrainConfig, Trainer
from dlkit.core.inputs import as_items
from dlkit.engines import EngineConfig, predictions
from dlkit.tasks.translator import TASK
from dlkit.tasks.translator.config import Config
from dlkit.tasks.translator.data import BOS, EOS, PAD, Subwords, make_dataset, read_pairs, references, split_pairs
from dlkit.text.tokens import pad


# ---- Model -----------------------------------------------------------------------------

def build_model(config: Config, source_vocab: int, target_vocab: int) -> "keras.Model":
    """The teacher-forced training graph; inference graphs reuse its layers by name."""
    rnn = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[config.cell]
    decoder_units = config.units * (2 if config.bidirectional else 1)

    source = keras.Input((None,), dtype="int32", name="source")
    decoder_in = keras.Input((None,), dtype="int32", name="decoder_in")
    x = keras.layers.Embedding(source_vocab, config.embedding_dim, mask_zero=True, name="source_embedding")(source)
    encoder = rnn(config.units, return_sequences=True, return_state=True, dropout=config.dropout,
                  name="encoder")
    if config.bidirectional:
        encoder = keras.layers.Bidirectional(encoder, name="bidirectional_encoder")
    encoded, *states = encoder(x)
    states = _merge_directions(states, config, lambda f, b: keras.layers.Concatenate()([f, b]))
    y = keras.layers.Embedding(target_vocab, config.embedding_dim, mask_zero=True, name="target_embedding")(decoder_in)
    decoder = rnn(decoder_units, return_sequences=True, return_state=True, dropout=config.dropout, name="decoder")
    decoded, *_ = decoder(y, initial_state=states)
    context = _attention_layer(config)(
        [decoded, encoded], mask=[_mask(decoder_in), _mask(source)])
    combined = keras.layers.Dense(decoder_units, activation="tanh", name="combine")(
        keras.layers.Concatenate()([decoded, context]))
    combined = keras.layers.Dropout(config.dropout)(combined)
    logits = keras.layers.Dense(target_vocab, name="logits", dtype="float32")(combined)
    return keras.Model([source, decoder_in], logits, name="translator")


def _attention_layer(config: Config):
    if config.attention == "luong":
        return keras.layers.Attention(score_mode="dot", name="attention")
    return keras.layers.AdditiveAttention(name="attention")


def _mask(ids):
    return keras.ops.not_equal(ids, PAD)


def _merge_directions(states: list, config: Config, join) -> list:
    """A bidirectional encoder's forward and backward states, each pair joined by
    `join(forward, backward)` for the decoder."""
    if not config.bidirectional:
        return states
    half = len(states) // 2
    return [join(f, b) for f, b in zip(states[:half], states[half:])]


def inference_graphs(model: "keras.Model", config: Config) -> DecoderGraphs:
    """Encoder and single-step decoder, from the trained layers."""
    embed_source = model.get_layer("source_embedding")
    encoder = model.get_layer("bidirectional_encoder" if config.bidirectional else "encoder")
    embed_target = model.get_layer("target_embedding")
    decoder, attention = model.get_layer("decoder"), model.get_layer("attention")
    combine, logits_layer = model.get_layer("combine"), model.get_layer("logits")
    join = keras.layers.Concatenate()

    def encode(source):
        mask = tf.not_equal(source, PAD)
        encoded, *states = encoder(embed_source(source), mask=mask, training=False)
        return [encoded, mask], _merge_directions(states, config, lambda f, b: tf.concat([f, b], -1))

    def step(tokens, states, memory, mask):
        # The LSTM's cell, not the layer: one token needs no loop over time (a while loop
        # per step costs ~15% more, and ONNX and LiteRT converters handle a cell better).
        decoded, new_states = decoder.cell(unmasked(embed_target(tokens)), states, training=False)
        decoded = decoded[:, None]
        context, scores = attention([decoded, memory], mask=[None, mask], return_attention_scores=True,
                                    training=False)
        logits = logits_layer(combine(join([decoded, context])))
        return tf.nn.log_softmax(logits[:, 0]), list(new_states), scores[:, 0]

    return DecoderGraphs(encode, step)


# ---- Training --------------------------------------------------------------------------

def train(data: str | None, output: str, config: Config | None = None, train_config: TrainConfig | None = None,
          events: Events = SILENT, src: str | None = None, tgt: str | None = None, reverse: bool = False) -> Run:
    """Trains a translator on `data` (tab-separated pairs) or on the aligned files
    `src` and `tgt` (see read_pairs) and writes it to the folder `output`: learns
    subwords, trains with validation BLEU each epoch (the best epoch is kept, the
    learning rate halves and training stops when it stalls)."""
    files.check_output(output, folder=True, what="translator folder")
    config = validate(config or Config())
    pairs = read_pairs(data, src, tgt, reverse)
    if pairs.skipped:
        events.warning(f"skipped {pairs.skipped} malformed line(s) (one column or an empty side)")
    training, validation, test = split_pairs(pairs, config.val_fraction, config.test_fraction)
    if config.max_pairs:
        training.sources, training.targets = training.sources[: config.max_pairs], training.targets[: config.max_pairs]
    if not validation.sources:
        raise DlkitError("no validation pairs: raise --val-fraction or give more data")
    events.message(f"{len(training.sources)} training, {len(validation.sources)} validation, "
                   f"{len(test.sources)} test pairs")
    trainer = Trainer(train_config or TrainConfig(seed=config.seed, patience=TASK.train.patience), output, events)
    source_words = Subwords.train(training.sources, config.vocab_size)
    target_words = Subwords.train(training.targets, config.vocab_size)
    events.message(f"subwords: {len(source_words)} source, {len(target_words)} target")
    train_data = make_dataset(training, source_words, target_words, config, shuffle=True)
    val_data = make_dataset(validation, source_words, target_words, config, shuffle=False)
    model = compile_decoder(trainer, lambda: build_model(config, len(source_words), len(target_words)),
                            config.learning_rate, clipnorm=1.0)
    translator = Translator(model, source_words, target_words, config)
    sources, refs = references(validation)
    sources, refs = sources[: config.bleu_sentences], refs[: config.bleu_sentences]

    def greedy_bleu() -> float:
        return corpus_scores([t.text for t in translator.translate(sources, beam_size=1)], refs)["bleu"]

    # Bucketing by length hides the number of batches from tf.data: one per pair-batch, about.
    steps = -(-len(training.sources) // config.batch_size)
    history, curves = fit_decoder(trainer, model, train_data, val_data, config.epochs, steps, "val_bleu",
                                  config.lr_patience, min_delta=0.1, title="translator", score=greedy_bleu,
                                  events=events, save=lambda history: translator.save(output, {"history": history}))
    record = {"input": data or src, "model": output, "epochs": len(history["loss"]),
              "loss": round(history["loss"][-1], 4), "best_val_bleu": max(history.get("val_bleu", [0.0])),
              "seconds": round(history["seconds"], 1), "skipped": pairs.skipped, "curves": curves}
    return Run(output, history, record)


# ---- Inference -------------------------------------------------------------------------

@dataclass
class Translation:
    text: str
    score: float  # length-normalized log-probability (see dlkit.core.decoding)
    tokens: list[str]
    source_tokens: list[str]
    attention: np.ndarray | None = None  # (output tokens, source tokens)


class Translator(Predictor):
    """A trained translator: `predict(items)` gives {"input", "translation", "score"} per
    text; an empty text gets an empty translation."""

    def __init__(self, model: "keras.Model", src: Subwords, tgt: Subwords, config: Config,
                 beam_size: int | None = None):
        self.model, self.src, self.tgt, self.config = model, src, tgt, config
        self.batch_size = config.batch_size
        self.beam_size = beam_size or config.beam_size
        self.graphs = inference_graphs(model, config)

    def save(self, folder: str, extra: dict | None = None) -> None:
        modelio.save_folder(folder, self.model, self.config, extra,
                            {"source.spm": self.src.write, "target.spm": self.tgt.write})

    def predict_batch(self, texts: list[str]) -> list[dict]:
        return [{"translation": t.text, "score": t.score} for t in self.translate(texts)]

    def exportable(self, samples: tuple[str, ...] = ("How are you?", "The cat sleeps on the sofa.")) -> Exportable:
        """The encoder (source subword ids, 0-padded, each row ending in the end id) and
        the one-subword step, for `dlkit export`."""
        ids = pad([row[: self.config.max_length - 1] + [EOS] for row in self.src.encode(list(samples))])
        return Exportable(self.graphs, [tf.TensorSpec([None, None], tf.int32, name="source")], [self.model], [ids],
                          assets={"source.spm": self.src.write, "target.spm": self.tgt.write},
                          decoding={"bos": BOS, "eos": EOS, "pad": PAD, "max_length": self.config.max_length,
                                    "length_alpha": self.config.length_alpha, "beam_size": self.beam_size})

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
        results: list[Translation | None] = [None] * len(texts)
        todo = [i for i, t in enumerate(texts) if t.strip()]
        for i, text in enumerate(texts):
            if not text.strip():
                results[i] = Translation("", 0.0, [], [])
        for start in range(0, len(todo), self.config.batch_size):
            chunk = todo[start: start + self.config.batch_size]
            ids = [row[: self.config.max_length - 1] + [EOS] for row in self.src.encode([texts[i] for i in chunk])]
            for i, translation in zip(chunk, self._decode(ids, beam, with_attention)):
                results[i] = translation
        return results

    def _decode(self, source_ids: list[list[int]], beam: int, with_attention: bool) -> list[Translation]:
        source = pad(source_ids)
        best = self.graphs.search([source], beam, BOS, EOS, max_steps=min(self.config.max_length,
                                                                          2 * source.shape[1] + 10),
                                  alpha=self.config.length_alpha, with_attention=with_attention)
        return [Translation(text=self.tgt.decode(h.tokens), score=round(h.score, 4),
                            tokens=self.tgt.pieces(h.tokens + [EOS]), source_tokens=self.src.pieces(ids),
                            attention=h.attention[:, : len(ids)] if h.attention is not None else None)
                for h, ids in zip(best, source_ids)]


def load(path: str | None = None, beam_size: int | None = None) -> Translator:
    """A translator folder written by train(); None: the English->French one dlkit ships."""
    folder = path or modelio.pretrained_path(TASK.name)
    config, _ = modelio.read_folder(folder, "translator", "train-translator", Config,
                                    files=("model.keras", "source.spm", "target.spm"))
    try:
        src, tgt = (Subwords.read(os.path.join(folder, n)) for n in ("source.spm", "target.spm"))
    except Exception:
        raise DlkitError(f"{folder}: missing or damaged subword model") from None
    model = modelio.load_model(os.path.join(folder, "model.keras"))
    check_vocabulary(model, len(src), os.path.join(folder, "source.spm"), ("source_embedding",))
    check_vocabulary(model, len(tgt), os.path.join(folder, "target.spm"), ("target_embedding", "logits"))
    return Translator(model, src, tgt, config, beam_size)


# ---- Evaluation ------------------------------------------------------------------------

def corpus_scores(hypotheses: list[str], refs: list[list[str]]) -> dict:
    """sacreBLEU and chrF against all references of each sentence, with signatures."""
    bleu, chrf = metrics.bleu(hypotheses, refs), metrics.chrf(hypotheses, refs)
    return {"bleu": round(bleu.score, 2), "chrf": round(chrf.score, 2),
            "bleu_signature": bleu.signature, "chrf_signature": chrf.signature}


def translate(items, model: str | None = None, settings: dict | None = None,
              engine: EngineConfig = EngineConfig(), events: Events = SILENT):
    """The records of `dlkit translate`: load(model, **settings).predict(items) here or on
    Ray; with settings["attention_map"] a PNG path, the one sentence's record with its
    attention drawn there."""
    settings = dict(settings or {})
    picture = settings.pop("attention_map", None)
    if picture is None:
        return predictions("dlkit.tasks.translator.model:load", {"path": model, **settings}, items, engine, 64,
                           events)
    items = list(as_items(items))
    if len(items) != 1:
        raise DlkitError("--attention-map draws one sentence: give exactly one TEXT")
    if items[0].error:
        return [{"input": items[0].input, "error": items[0].error}]
    return [load(model, **settings).predict_with_attention(items[0].value, picture)]


def evaluate(data: str, model: "str | Translator | None" = None, split: str = "test", reverse: bool = False,
             beam_size: int | None = None, samples: int = 0, events: Events = SILENT) -> dict:
    """sacreBLEU and chrF of a translator (a folder, a loaded one, or None: the shipped
    one) on the pairs file `data`: split "test" scores only the pairs train() held out
    (the same hashing), "all" every pair. The first `samples` translations are reported
    as messages beside their first reference."""
    translator = model if isinstance(model, Translator) else load(model, beam_size)
    beam = beam_size or translator.beam_size
    pairs = read_pairs(data, reverse=reverse)
    if split == "test":
        pairs = split_pairs(pairs, translator.config.val_fraction, translator.config.test_fraction)[2]
        if not pairs.sources:
            raise DlkitError(f"{data}: no test pairs (the translator was trained with --test-fraction 0)")
    sources, refs = references(pairs)
    hypotheses = []
    with events.progress(len(sources), "translating") as advance:
        for start in range(0, len(sources), 256):
            chunk = sources[start: start + 256]
            hypotheses.extend(t.text for t in translator.translate(chunk, beam))
            advance(len(chunk))
    for i in range(min(samples, len(sources))):
        events.message(f"{sources[i]}\n  -> {hypotheses[i]}\n  ref: {refs[i][0]}")
    return {"input": data, "split": split, "beam_size": beam, **corpus_scores(hypotheses, refs),
            "sentences": len(sources)}


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
