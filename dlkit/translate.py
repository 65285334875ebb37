"""Machine translation: a sequence-to-sequence LSTM with attention over subwords.

An (optionally bidirectional) LSTM or GRU encoder reads the source sentence, an LSTM or
GRU decoder writes the target one subword at a time, and attention (Luong's
multiplicative or Bahdanau's additive) lets each output step look back at every source
position. SentencePiece subwords, learned from the training data and saved with the
model, keep unseen words and names from collapsing into one unknown token.

    from dlkit.translate import Translator
    translator = Translator.load("translator/")
    print(translator.translate(["Where is the station?"])[0].text)
"""

import hashlib
import io
import os
from dataclasses import asdict, dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from dlkit import modelio
from dlkit.decoding import beam_search
from dlkit.errors import DlkitError, check_choice
from dlkit.runtime import keras, tf

PAD, UNK, BOS, EOS = 0, 1, 2, 3


# ---- Configuration ---------------------------------------------------------------------

@dataclass
class TranslatorConfig:
    # 8,000 subwords per language cover Tatoeba's everyday vocabulary with short
    # sequences while keeping the output softmax cheap on a CPU.
    vocab_size: int = 8000
    # Subword tokens per side; longer pairs are left out of training (Tatoeba's are short).
    max_length: int = 40
    embedding_dim: int = 256
    # Encoder units per direction; the decoder gets twice as many to take both directions.
    units: int = 256
    cell: str = "lstm"  # lstm | gru
    bidirectional: bool = True
    # Luong (multiplicative): one matrix product, fast; Bahdanau (additive): a small MLP.
    attention: str = "luong"
    dropout: float = 0.2
    batch_size: int = 64
    epochs: int = 10
    learning_rate: float = 1e-3
    # Held out by source sentence (all translations of a sentence on one side), so that
    # BLEU measures translation, not memory of a sibling translation.
    val_fraction: float = 0.05
    test_fraction: float = 0.05
    # Validation BLEU each epoch on this many held-out sentences (greedy decoding).
    bleu_sentences: int = 500
    # Early stopping on validation BLEU, in epochs.
    patience: int = 3
    # Halve the learning rate when validation BLEU has not risen for this many epochs:
    # smaller steps often find the next gain before early stopping gives up.
    lr_patience: int = 1
    beam_size: int = 4
    # GNMT length normalization ((5 + length) / 6) ** alpha: without it beams favour
    # short outputs.
    length_alpha: float = 0.6
    seed: int = 0
    # Use only the first N pairs (after shuffling): quick experiments.
    max_pairs: int | None = None


# ---- Data ------------------------------------------------------------------------------

@dataclass
class Pairs:
    sources: list[str]
    targets: list[str]
    skipped: int = 0  # malformed lines: one column, or an empty side


def read_pairs(path: str | None = None, src: str | None = None, tgt: str | None = None,
               reverse: bool = False) -> Pairs:
    """Tab-separated pairs (`source<TAB>target[<TAB>attribution...]`, the Tatoeba/Anki
    layout) or two aligned text files. `reverse` swaps the direction."""
    if path:
        sources, targets, skipped = [], [], 0
        for line in _lines(path):
            parts = line.split("\t")
            if len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
                skipped += (line.strip() != "")
                continue
            sources.append(parts[0].strip())
            targets.append(parts[1].strip())
    elif src and tgt:
        left, right = _lines(src), _lines(tgt)
        if len(left) != len(right):
            raise DlkitError(f"{src} has {len(left)} lines but {tgt} has {len(right)}: they must be aligned")
        keep = [(a.strip(), b.strip()) for a, b in zip(left, right)]
        skipped = sum(1 for a, b in keep if not a or not b)
        sources = [a for a, b in keep if a and b]
        targets = [b for a, b in keep if a and b]
    else:
        raise DlkitError("give a tab-separated pairs file, or --src and --tgt")
    if not sources:
        raise DlkitError(f"{path or src}: no sentence pairs found")
    return Pairs(targets, sources, skipped) if reverse else Pairs(sources, targets, skipped)


def _lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        raise DlkitError(f"no such file: {path}") from None
    except UnicodeDecodeError as e:
        raise DlkitError(f"{path} is not UTF-8 text (byte {e.start})") from None


def split_pairs(pairs: Pairs, val_fraction: float, test_fraction: float) -> tuple[Pairs, Pairs, Pairs]:
    """Train / validation / test, by a hash of the left-hand sentence of each pair: every
    translation of a sentence lands on the same side, and the split never changes."""
    buckets: tuple[Pairs, Pairs, Pairs] = (Pairs([], []), Pairs([], []), Pairs([], []))
    for s, t in zip(pairs.sources, pairs.targets):
        key = int(hashlib.md5(_normal(s).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        side = 2 if key < test_fraction else 1 if key < test_fraction + val_fraction else 0
        buckets[side].sources.append(s)
        buckets[side].targets.append(t)
    return buckets


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def references(pairs: Pairs) -> tuple[list[str], list[list[str]]]:
    """Unique sources, each with all its reference translations (Tatoeba has several)."""
    grouped: dict[str, list[str]] = {}
    for s, t in zip(pairs.sources, pairs.targets):
        grouped.setdefault(s, []).append(t)
    return list(grouped), list(grouped.values())


class Subwords:
    """A SentencePiece model: text <-> ids, with PAD/UNK/BOS/EOS = 0/1/2/3."""

    def __init__(self, proto: bytes):
        import sentencepiece as spm

        self.proto = proto
        self.processor = spm.SentencePieceProcessor(model_proto=proto)

    @classmethod
    def train(cls, texts: list[str], vocab_size: int) -> "Subwords":
        import sentencepiece as spm

        buffer = io.BytesIO()
        # A vocabulary larger than the data supports makes SentencePiece fail; let it shrink.
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_writer=buffer, vocab_size=vocab_size, model_type="unigram",
            character_coverage=1.0, pad_id=PAD, unk_id=UNK, bos_id=BOS, eos_id=EOS, hard_vocab_limit=False,
            num_threads=2, minloglevel=2)
        return cls(buffer.getvalue())

    @classmethod
    def read(cls, path: str) -> "Subwords":
        with open(path, "rb") as f:
            return cls(f.read())

    def write(self, path: str) -> None:
        with open(path, "wb") as f:
            f.write(self.proto)

    def __len__(self) -> int:
        return self.processor.get_piece_size()

    def encode(self, texts: list[str]) -> list[list[int]]:
        return self.processor.encode(texts)

    def decode(self, ids: list[int]) -> str:
        return self.processor.decode([i for i in ids if i > EOS])

    def pieces(self, ids: list[int]) -> list[str]:
        return [self.processor.id_to_piece(i) for i in ids]


def _pad(rows: list[list[int]], length: int) -> np.ndarray:
    out = np.zeros((len(rows), length), np.int32)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row[:length]
    return out


def make_dataset(pairs: Pairs, src: Subwords, tgt: Subwords, config: TranslatorConfig,
                 shuffle: bool) -> "tf.data.Dataset":
    """((source ids, decoder input ids), next-token targets, weights masking the padding)."""
    source_ids, target_ids = src.encode(pairs.sources), tgt.encode(pairs.targets)
    keep = [i for i, (s, t) in enumerate(zip(source_ids, target_ids))
            if len(s) + 1 <= config.max_length and len(t) + 1 <= config.max_length]
    if not keep:
        raise DlkitError(f"no pair is within --max-length {config.max_length} subwords")
    sources = _pad([source_ids[i] + [EOS] for i in keep], config.max_length)
    decoder_in = _pad([[BOS] + target_ids[i] for i in keep], config.max_length)
    decoder_out = _pad([target_ids[i] + [EOS] for i in keep], config.max_length)
    weights = (decoder_out != PAD).astype(np.float32)
    dataset = tf.data.Dataset.from_tensor_slices(((sources, decoder_in), decoder_out, weights))
    if shuffle:
        dataset = dataset.shuffle(len(keep), seed=config.seed, reshuffle_each_iteration=True)
        # Batches of similar-length pairs: most Tatoeba sentences are a third of
        # max_length, and the LSTMs would otherwise step through the padding.
        dataset = dataset.bucket_by_sequence_length(
            lambda inputs, outputs, weights: tf.reduce_sum(tf.cast(weights > 0, tf.int32)),
            bucket_boundaries=[6, 9, 12, 16, 24], bucket_batch_sizes=[config.batch_size] * 6)
    else:
        dataset = dataset.batch(config.batch_size)
    return dataset.map(_trim_padding).prefetch(tf.data.AUTOTUNE)


def _trim_padding(inputs, outputs, weights):
    """Cuts a batch to its longest source and target."""
    sources, decoder_in = inputs
    source_length = tf.reduce_max(tf.reduce_sum(tf.cast(sources != PAD, tf.int32), 1))
    target_length = tf.reduce_max(tf.reduce_sum(tf.cast(weights > 0, tf.int32), 1))
    return ((sources[:, :source_length], decoder_in[:, :target_length]),
            outputs[:, :target_length], weights[:, :target_length])


# ---- Model -----------------------------------------------------------------------------

def build_model(config: TranslatorConfig, source_vocab: int, target_vocab: int) -> "keras.Model":
    """The teacher-forced training graph; inference graphs reuse its layers by name."""
    cells = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}
    check_choice("cell", config.cell, list(cells))
    check_choice("attention", config.attention, ("luong", "bahdanau"))
    rnn = cells[config.cell]
    decoder_units = config.units * (2 if config.bidirectional else 1)

    source = keras.Input((None,), dtype="int32", name="source")
    decoder_in = keras.Input((None,), dtype="int32", name="decoder_in")
    x = keras.layers.Embedding(source_vocab, config.embedding_dim, mask_zero=True, name="source_embedding")(source)
    encoder = rnn(config.units, return_sequences=True, return_state=True, dropout=config.dropout,
                  name="encoder")
    if config.bidirectional:
        encoder = keras.layers.Bidirectional(encoder, name="bidirectional_encoder")
    encoded, *states = encoder(x)
    states = _merge_directions(states, config)
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


def _attention_layer(config: TranslatorConfig):
    if config.attention == "luong":
        return keras.layers.Attention(score_mode="dot", name="attention")
    return keras.layers.AdditiveAttention(name="attention")


def _mask(ids):
    return keras.ops.not_equal(ids, PAD)


def _merge_directions(states: list, config: TranslatorConfig) -> list:
    """A bidirectional encoder's forward and backward states, joined for the decoder."""
    if not config.bidirectional:
        return states
    half = len(states) // 2
    return [keras.layers.Concatenate()([f, b]) for f, b in zip(states[:half], states[half:])]


class InferenceGraphs:
    """Encoder and single-step decoder, calling the trained layers directly."""

    def __init__(self, model: "keras.Model", config: TranslatorConfig):
        embed_source = model.get_layer("source_embedding")
        encoder = model.get_layer("bidirectional_encoder" if config.bidirectional else "encoder")
        embed_target = model.get_layer("target_embedding")
        decoder, attention = model.get_layer("decoder"), model.get_layer("attention")
        combine, logits_layer = model.get_layer("combine"), model.get_layer("logits")
        join = keras.layers.Concatenate()

        @tf.function(reduce_retracing=True)
        def encode(source):
            encoded, *states = encoder(embed_source(source), mask=tf.not_equal(source, PAD), training=False)
            if config.bidirectional:
                half = len(states) // 2
                states = [tf.concat([f, b], -1) for f, b in zip(states[:half], states[half:])]
            return encoded, states

        @tf.function(reduce_retracing=True)
        def step(tokens, states, memory, mask):
            decoded, *new_states = decoder(embed_target(tokens[:, None]), initial_state=states, training=False)
            context, scores = attention([decoded, memory], mask=[None, mask], return_attention_scores=True,
                                        training=False)
            logits = logits_layer(combine(join([decoded, context])))
            return tf.nn.log_softmax(logits[:, 0]), new_states, scores[:, 0]

        self._encode, self._step = encode, step

    def encode(self, source: np.ndarray):
        encoded, states = self._encode(tf.constant(source))
        return encoded.numpy(), [s.numpy() for s in states]

    def next(self, tokens: np.ndarray, states: list, memory: np.ndarray, mask: np.ndarray):
        """Log-probabilities of the next token, new states, attention weights."""
        log_probs, states, scores = self._step(tf.constant(tokens), [tf.constant(s) for s in states],
                                               tf.constant(memory), tf.constant(mask))
        return log_probs.numpy(), [s.numpy() for s in states], scores.numpy()


# ---- Training --------------------------------------------------------------------------

def train_translator(train: Pairs, validation: Pairs, output: str, config: TranslatorConfig | None = None,
                     train_config=None, callbacks: list | None = None,
                     on_message: Callable[[str], None] | None = None) -> tuple["Translator", dict]:
    """Learns subwords, trains with validation BLEU each epoch (the best epoch is kept,
    training stops when it stalls), writes the model folder atomically."""
    from dlkit.training import EpochScore, TrainConfig, Trainer, halve_on_plateau

    config = config or TranslatorConfig()
    say = on_message or (lambda message: None)
    trainer = Trainer(train_config or TrainConfig(seed=config.seed, patience=config.patience), output)
    src = Subwords.train(train.sources, config.vocab_size)
    tgt = Subwords.train(train.targets, config.vocab_size)
    say(f"subwords: {len(src)} source, {len(tgt)} target")
    train_data = make_dataset(train, src, tgt, config, shuffle=True)
    val_data = make_dataset(validation, src, tgt, config, shuffle=False)
    with trainer.scope():
        model = build_model(config, len(src), len(tgt))
        model.compile(keras.optimizers.Adam(config.learning_rate, clipnorm=1.0),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      weighted_metrics=["accuracy"], **trainer.compile_options())
    translator = Translator(model, src, tgt, config)
    sources, refs = references(validation)
    sources, refs = sources[: config.bleu_sentences], refs[: config.bleu_sentences]

    def greedy_bleu() -> float:
        return corpus_scores([t.text for t in translator.translate(sources, beam_size=1)], refs)["bleu"]

    history = trainer.fit(model, trainer.distribute(train_data), trainer.distribute(val_data), config.epochs,
                          callbacks=[EpochScore("val_bleu", greedy_bleu),
                                     halve_on_plateau("val_bleu", config.lr_patience, 0.1), *(callbacks or [])],
                          monitor="val_bleu", mode="max")
    if trainer.is_chief:
        translator.save(output, {"history": history})
    trainer.finish()
    return translator, history


# ---- Inference -------------------------------------------------------------------------

@dataclass
class Translation:
    text: str
    score: float  # length-normalized log-probability (see dlkit.decoding)
    tokens: list[str]
    source_tokens: list[str]
    attention: np.ndarray | None = None  # (output tokens, source tokens)


class Translator:
    def __init__(self, model: "keras.Model", src: Subwords, tgt: Subwords, config: TranslatorConfig):
        self.model, self.src, self.tgt, self.config = model, src, tgt, config
        self.graphs = InferenceGraphs(model, config)

    def save(self, folder: str, extra: dict | None = None) -> None:
        modelio.save_folder(folder, self.model, {"config": asdict(self.config), **(extra or {})},
                            {"source.spm": self.src.write, "target.spm": self.tgt.write})

    @classmethod
    def load(cls, folder: str) -> "Translator":
        config = modelio.folder_config(folder, "translator", "train-translator", TranslatorConfig)
        try:
            src, tgt = (Subwords.read(os.path.join(folder, n)) for n in ("source.spm", "target.spm"))
        except Exception:
            raise DlkitError(f"{folder}: missing or damaged subword model") from None
        return cls(modelio.load_model(os.path.join(folder, "model.keras")), src, tgt, config)

    def translate(self, texts: list[str], beam_size: int | None = None,
                  with_attention: bool = False) -> list[Translation]:
        """Translations in input order; empty texts stay empty."""
        beam = beam_size or self.config.beam_size
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
        source = _pad(source_ids, max(len(s) for s in source_ids))
        memory, states = self.graphs.encode(source)
        memory, mask = np.repeat(memory, beam, 0), np.repeat(source != PAD, beam, 0)

        def step(tokens, states):
            return self.graphs.next(tokens, states, memory, mask)

        best = beam_search(step, states, len(source_ids), beam, BOS, EOS,
                           max_steps=min(self.config.max_length, 2 * source.shape[1] + 10),
                           alpha=self.config.length_alpha, with_attention=with_attention)
        return [Translation(text=self.tgt.decode(h.tokens), score=round(h.score, 4),
                            tokens=self.tgt.pieces(h.tokens + [EOS]), source_tokens=self.src.pieces(ids),
                            attention=h.attention[:, : len(ids)] if h.attention is not None else None)
                for h, ids in zip(best, source_ids)]


def corpus_scores(hypotheses: list[str], refs: list[list[str]]) -> dict:
    """sacreBLEU and chrF against all references of each sentence, with signatures."""
    import sacrebleu

    width = max(len(r) for r in refs)
    streams = [[r[i] if i < len(r) else None for r in refs] for i in range(width)]
    bleu, chrf = sacrebleu.metrics.BLEU(), sacrebleu.metrics.CHRF()
    bleu_score = bleu.corpus_score(hypotheses, streams)
    chrf_score = chrf.corpus_score(hypotheses, streams)
    return {"bleu": round(bleu_score.score, 2), "chrf": round(chrf_score.score, 2),
            "bleu_signature": str(bleu.get_signature()), "chrf_signature": str(chrf.get_signature())}


def evaluate(translator: Translator, pairs: Pairs, beam_size: int | None = None,
             on_batch: Callable[[int], None] | None = None) -> tuple[dict, list[tuple[str, str, list[str]]]]:
    """Corpus scores on `pairs` and (source, hypothesis, references) samples."""
    sources, refs = references(pairs)
    hypotheses = []
    for start in range(0, len(sources), 256):
        chunk = sources[start: start + 256]
        hypotheses.extend(t.text for t in translator.translate(chunk, beam_size))
        if on_batch:
            on_batch(len(chunk))
    scores = corpus_scores(hypotheses, refs)
    scores["sentences"] = len(sources)
    return scores, list(zip(sources, hypotheses, refs))


def stream_translate(translator: Translator, items: Iterable, beam_size: int | None = None,
                     batch_lines: int = 64) -> Iterator[tuple[object, Translation | None]]:
    """(item, translation) in input order, a batch at a time, so output starts before
    the input ends. Items whose `error` is set pass through with None."""
    pending = []
    for item in items:
        pending.append(item)
        if len(pending) >= batch_lines:
            yield from _flush(translator, pending, beam_size)
            pending = []
    yield from _flush(translator, pending, beam_size)


def _flush(translator, items, beam_size):
    good = [i for i in items if not i.error]
    translations = iter(translator.translate([i.text for i in good], beam_size)) if good else iter(())
    for item in items:
        yield item, (None if item.error else next(translations))


def attention_map(translation: Translation, path: str) -> None:
    """Where the decoder looked in the source for each output subword."""
    from dlkit import plots

    if translation.attention is None:
        raise DlkitError("no attention weights to draw")
    plt = plots._pyplot()
    weights = translation.attention
    figure, axis = plt.subplots(figsize=(0.5 * len(translation.source_tokens) + 2, 0.4 * len(weights) + 1.5))
    axis.imshow(weights, cmap="viridis", aspect="auto")
    axis.set_xticks(range(len(translation.source_tokens)), translation.source_tokens, rotation=60, ha="right")
    axis.set_yticks(range(len(weights)), translation.tokens[: len(weights)])
    axis.set_xlabel("source")
    axis.set_ylabel("output")
    plots.save_figure(figure, path)
