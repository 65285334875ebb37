"""Machine translation, TensorFlow's side: a sequence-to-sequence LSTM with attention
over subwords, its training and evaluation (the inference graphs that its ONNX twin is
made of are in dlkit.tasks.translator.twin; translating itself is in
dlkit.tasks.translator.predict, without TensorFlow).

An (optionally bidirectional) LSTM or GRU encoder reads the source sentence, an LSTM or
GRU decoder writes the target one subword at a time, and attention (Luong's
multiplicative or Bahdanau's additive) lets each output step look back at every source
position. SentencePiece subwords, learned from the training data and saved with the
model, keep unseen words and names from collapsing into one unknown token.

    from dlkit.tasks import translator
    run = translator.train("fra.txt", "en-fr/", translator.Config(epochs=5))
    translator.evaluate("fra.txt", "en-fr/")
"""

import os
from dataclasses import replace

from dlkit.core import files, metrics, modelio, twins
from dlkit.core.config import validate
from dlkit.core.decoding import compile_decoder, fit_decoder
from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events
from dlkit.core.runtime import keras
from dlkit.core.task import Run
from dlkit.core.training import TrainConfig, Trainer
from dlkit.tasks.translator import TASK, placeholders, transformer, twin
from dlkit.tasks.translator.config import ARCHITECTURE, Config
from dlkit.tasks.translator.data import make_dataset, read_pairs, references, split_pairs
from dlkit.tasks.translator.layers import WarmUp
from dlkit.tasks.translator.predict import GRAPHS, Translator, load
from dlkit.tasks.translator.subwords import PAD, Subwords


# ---- Model -----------------------------------------------------------------------------

def build_model(config: Config, source_vocab: int, target_vocab: int) -> "keras.Model":
    """The teacher-forced training graph; inference graphs reuse its layers by name."""
    if config.arch == "transformer":
        return transformer.build_model(config, source_vocab, target_vocab)
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
    states = twin.merge_directions(states, config, lambda f, b: keras.layers.Concatenate()([f, b]))
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


# ---- Training --------------------------------------------------------------------------

def train(data: str | None, output: str, config: Config | None = None, train_config: TrainConfig | None = None,
          events: Events = SILENT, src: str | None = None, tgt: str | None = None, reverse: bool = False,
          init_from: str | None = None) -> Run:
    """Trains a translator on `data` (tab-separated pairs) or on the aligned files
    `src` and `tgt` (see read_pairs) and writes it to the folder `output`: learns
    subwords, trains with validation BLEU each epoch (the best epoch is kept, the
    learning rate halves and training stops when it stalls). With `init_from` (a
    translator folder) it starts from that model's weights, subwords and network instead."""
    files.check_output(output, folder=True, what="translator folder")
    config = validate(config or Config())
    init_from = init_from and modelio.start_folder(init_from, TASK.name)
    start = _Start(init_from) if init_from else None
    if start:
        config = replace(config, **{name: getattr(start.config, name) for name in ARCHITECTURE})
        events.message(f"starting from {init_from}: its {config.arch} network and subwords")
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
    if start:
        source_words, target_words = start.source_words, start.target_words
    elif config.arch == "transformer":
        # One vocabulary for both languages: names, numbers and cognates are the same
        # pieces on both sides (Vaswani et al.'s shared byte-pair vocabulary).
        source_words = target_words = Subwords.train(training.sources + training.targets, config.vocab_size)
    else:
        source_words = Subwords.train(training.sources, config.vocab_size)
        target_words = Subwords.train(training.targets, config.vocab_size)
    events.message(f"subwords: {len(source_words)} source, {len(target_words)} target")
    train_data = make_dataset(training, source_words, target_words, config, shuffle=True)
    val_data = make_dataset(validation, source_words, target_words, config, shuffle=False)
    # Bucketing by length hides the number of batches from tf.data: one per pair-batch, about.
    steps = -(-len(training.sources) // config.batch_size)
    done = start.steps(steps) if start else 0

    def build():
        model = build_model(config, len(source_words), len(target_words))
        if start:
            start.copy_to(model, events)
        return model

    if config.arch == "transformer":
        # Vaswani et al.'s Adam (beta_2 0.98) under a warm-up schedule; the schedule
        # replaces halving the rate on a plateau.
        model = compile_decoder(trainer, build, WarmUp(config.learning_rate, config.warmup_steps, done),
                                clipnorm=1.0, label_smoothing=config.label_smoothing, beta_2=0.98)
        lr_patience, snapshots = None, LastWeights(config.average_last)
    else:
        model = compile_decoder(trainer, build, config.learning_rate, clipnorm=1.0)
        lr_patience, snapshots = config.lr_patience, LastWeights(1)
    # The names these pairs copy most reliably stand in for names the model would garble;
    # a model trained further keeps those it learnt to copy (a user's few hundred pairs
    # copy no name 20 times, and the model did not unlearn them).
    names = (start and start.names()) or placeholders.name_placeholders(training.sources, training.targets)
    translator = Translator(twin.inference_graphs(model, config), source_words, target_words, config,
                            twin.decoding(config), names=names)
    sources, refs = references(validation)
    sources, refs = sources[: config.bleu_sentences], refs[: config.bleu_sentences]

    def greedy_bleu() -> float:
        return corpus_scores([t.text for t in translator.translate(sources, beam_size=1)], refs)["bleu"]

    averaged = {}

    def finish(history: dict) -> None:
        averaged.update(snapshots.keep_better(model, greedy_bleu))
        if averaged:
            events.message(f"weights of the last {averaged['epochs']} epochs averaged: validation BLEU "
                           f"{averaged['best_epoch_bleu']} -> {averaged['averaged_bleu']}, "
                           f"{'kept' if averaged['kept'] else 'not kept'}")
        # The steps taken so far: a run that goes on from this model resumes the schedule there.
        progress = {"steps": done + int(model.optimizer.iterations), "init_from": init_from}
        save(output, model, source_words, target_words, config,
             {"history": history, "averaged": averaged, "name_placeholders": names, **progress})

    history, curves = fit_decoder(trainer, model, train_data, val_data, config.epochs, steps, "val_bleu",
                                  lr_patience, min_delta=0.1, title="translator", score=greedy_bleu,
                                  events=events, save=finish, callbacks=[snapshots])
    record = {"input": data or src, "model": output, "arch": config.arch, "epochs": len(history["loss"]),
              "loss": round(history["loss"][-1], 4), "best_val_bleu": max(history.get("val_bleu", [0.0])),
              "seconds": round(history["seconds"], 1), "skipped": pairs.skipped, "curves": curves}
    if averaged:
        record["averaged"] = averaged
    return Run(output, history, record)


class _Start:
    """The translator a run starts from (--init-from): its settings, subwords and weights."""

    def __init__(self, folder: str):
        self.folder = folder
        self.config, self.saved = modelio.read_folder(folder, "translator", "train-translator", Config,
                                                      files=("model.keras", "source.spm", "target.spm"))
        self.source_words, self.target_words = (Subwords.read(os.path.join(folder, name))
                                                for name in ("source.spm", "target.spm"))

    def copy_to(self, model, events: Events) -> None:
        """Gives `model`, this network built again, the folder's weights (float32 from an
        int8 copy, such as the shipped translator)."""
        modelio.copy_weights(modelio.load_model(os.path.join(self.folder, "model.keras")), model, self.folder, events)

    def names(self) -> list[str]:
        """The names the model learnt to copy over all its training (config.json's
        name_placeholders; none in a folder written before them)."""
        names = self.saved.get("name_placeholders", [])
        return placeholders.checked_names(names, os.path.join(self.folder, "config.json"))

    def steps(self, per_epoch: int) -> int:
        """The training steps the model has had: recorded since --init-from was added; for
        an older folder, its epochs times this run's steps per epoch (exact when the data
        is the same)."""
        steps = self.saved.get("steps")
        if isinstance(steps, int) and steps >= 0:
            return steps
        history = self.saved.get("history")
        epochs = history.get("loss") if isinstance(history, dict) else None
        return len(epochs) * per_epoch if isinstance(epochs, list) else 0


class LastWeights(keras.callbacks.Callback):
    """The weights at the end of each of the last `count` epochs, for checkpoint averaging
    (Vaswani et al. 2017): the average of the last few points of a noisy descent often
    generalizes better than any one of them."""

    def __init__(self, count: int):
        super().__init__()
        self.count, self.kept = count, []

    def on_epoch_end(self, epoch, logs=None):
        if self.count > 1:
            self.kept = [*self.kept, self.model.get_weights()][-self.count:]

    def keep_better(self, model: "keras.Model", score) -> dict:
        """Sets `model`'s weights to the kept ones' average when that scores higher than
        the weights it has (the best epoch's, with early stopping); {} when there was
        nothing to average, else both scores and whether the average was kept."""
        if len(self.kept) < 2:
            return {}
        current, before = model.get_weights(), score()
        model.set_weights([sum(ws) / len(ws) for ws in zip(*self.kept)])
        after = score()
        if after <= before:
            model.set_weights(current)
        return {"epochs": len(self.kept), "best_epoch_bleu": round(before, 2), "averaged_bleu": round(after, 2),
                "kept": after > before}


def save(folder: str, model: "keras.Model", src: Subwords, tgt: Subwords, config: Config,
         extra: dict | None = None) -> None:
    """The translator folder (model.keras, the subword models, config.json with `extra`)
    and, beside the model, its ONNX twin, which translation runs."""
    modelio.save_folder(folder, TASK.name, model, config, extra, {"source.spm": src.write, "target.spm": tgt.write})
    source = os.path.join(folder, "model.keras")
    twin.write(source, twins.twin_paths(source, GRAPHS))


# ---- Evaluation ------------------------------------------------------------------------

def corpus_scores(hypotheses: list[str], refs: list[list[str]]) -> dict:
    """sacreBLEU and chrF against all references of each sentence, with signatures."""
    bleu, chrf = metrics.bleu(hypotheses, refs), metrics.chrf(hypotheses, refs)
    return {"bleu": round(bleu.score, 2), "chrf": round(chrf.score, 2),
            "bleu_signature": bleu.signature, "chrf_signature": chrf.signature}


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

