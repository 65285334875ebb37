"""What the sequence decoders (translation, captioning) share on TensorFlow's side:
teacher-forced training scored by decoding each epoch, inference graphs made of the
trained layers. Their beam search needs no TensorFlow: it is in dlkit.core.search, with
the decoding of their ONNX twins.
"""

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from dlkit.core import plots
from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events
from dlkit.core.runtime import keras, tf
from dlkit.core.search import Hypothesis, RowsOf, beam_search
from dlkit.core.training import EpochScore, ProgressBar, Trainer, halve_on_plateau


# ---- Inference -------------------------------------------------------------------------

class DecoderGraphs:
    """A trained encoder-decoder's inference, calling its layers directly:
    `encode(*inputs) -> (context, states)` once per batch of inputs, and
    `step(tokens, states, *context) -> (log_probs, states, attention)` once per output
    token, where context holds what every step reads (the encoder's outputs, a mask).
    Both run as TensorFlow functions, traced once per shape family."""

    def __init__(self, encode: Callable, step: Callable):
        self.encode, self.step = encode, step  # the plain functions, for endpoints()
        self._encode = tf.function(encode, reduce_retracing=True)
        self._step = tf.function(step, reduce_retracing=True)

    def search(self, inputs: list[np.ndarray], beam: int, bos: int, eos: int, max_steps: int, alpha: float,
               with_attention: bool = False, banned: tuple[int, ...] = (),
               required: "list[tuple[int, ...]] | None" = None,
               avoided: "list[tuple[int, ...]] | None" = None) -> list[Hypothesis]:
        """The best hypothesis per input row (see beam_search)."""
        context, states = self._encode(*(tf.constant(x) for x in inputs))
        # Every beam of an input reads that input's context: repeated once, not per step.
        context = RowsOf([tf.repeat(c, beam, axis=0) for c in context], tf.gather)

        def step(tokens, states, rows):
            log_probs, states, attention = self._step(tf.constant(tokens), [tf.constant(s) for s in states],
                                                      *context(rows))
            return log_probs.numpy(), [s.numpy() for s in states], attention.numpy()

        return beam_search(step, [s.numpy() for s in states], len(inputs[0]), beam, bos, eos, max_steps, alpha,
                           with_attention, banned=banned, required=required, avoided=avoided)

    def endpoints(self, inputs: list["tf.TensorSpec"]) -> dict[str, "tf.function"]:
        """The two functions with fixed signatures of named tensors, for an export that
        another runtime decodes with (a SavedModel's signatures, ONNX graphs):

            encode(<inputs>) -> {context_0.., state_0..}
            step(tokens, state_0.., context_0..) -> {log_probs, attention, next_state_0..}

        The step's outputs are not named like its inputs: ONNX names must be unique."""
        context, states = tf.function(self.encode).get_concrete_function(*inputs).structured_outputs
        state_specs = [tf.TensorSpec(s.shape, s.dtype, name=f"state_{i}") for i, s in enumerate(states)]
        context_specs = [tf.TensorSpec(c.shape, c.dtype, name=f"context_{i}") for i, c in enumerate(context)]

        def encode(*values):
            context, states = self.encode(*values)
            return {**{f"context_{i}": c for i, c in enumerate(context)},
                    **{f"state_{i}": s for i, s in enumerate(states)}}

        def step(tokens, *values):
            states, context = list(values[: len(state_specs)]), values[len(state_specs):]
            log_probs, states, attention = self.step(tokens, states, *context)
            return {"log_probs": log_probs, "attention": attention,
                    **{f"next_state_{i}": s for i, s in enumerate(states)}}

        return {"encode": tf.function(encode, input_signature=list(inputs)),
                "step": tf.function(step, input_signature=[tf.TensorSpec([None], tf.int32, name="tokens"),
                                                           *state_specs, *context_specs])}


def unmasked(embedded: "tf.Tensor") -> "tf.Tensor":
    """An embedding's output without the padding mask Keras attaches to it: a decoder
    step feeds one token to the LSTM's cell, which has no use for a mask (and warns)."""
    return tf.identity(embedded)


@dataclass
class Exportable:
    """What an encoder-decoder task gives `dlkit export`: its graphs, the Keras models
    whose weights they use, inputs to check the export on, and the files and numbers a
    runtime needs to turn the steps' log-probabilities into text."""

    graphs: DecoderGraphs
    inputs: list  # tf.TensorSpec of each encoder input, named
    models: list  # the Keras models the graphs call (their variables go into the export)
    samples: list[np.ndarray]  # encoder inputs, one array per spec
    # file name in the export -> a function writing it to a path (vocabularies, subword models)
    assets: dict[str, Callable[[str], None]] = field(default_factory=dict)
    decoding: dict = field(default_factory=dict)  # start and end ids, lengths, ... (decoding.json)


def check_vocabulary(model: "keras.Model", size: int, path: str, layers: tuple[str, ...]) -> None:
    """Refuses a vocabulary file that does not fit the layers it feeds or names (the
    embedding's rows, the output's classes): ids beyond them fail inside TensorFlow, and
    a vocabulary of another model decodes the wrong words without a word of warning."""
    for name in layers:
        layer = model.get_layer(name)
        expected = layer.input_dim if isinstance(layer, keras.layers.Embedding) else layer.units
        if expected != size:
            raise DlkitError(f"{path}: {size:,} entries, but the model's {name} layer has {expected:,}")


# ---- Training --------------------------------------------------------------------------

def compile_decoder(trainer: Trainer, build: Callable[[], "keras.Model"],
                    learning_rate: "float | keras.optimizers.schedules.LearningRateSchedule", clipnorm: float,
                    label_smoothing: float = 0.0, beta_2: float = 0.999) -> "keras.Model":
    """The model `build()` makes, in the trainer's scope, compiled for next-token
    prediction: cross-entropy on its logits (with `label_smoothing`, the share of each
    target's probability spread over the vocabulary), weighted (the datasets give weights
    that leave the padding out), Adam with clipped gradients (recurrent nets spike)."""
    loss = smoothed_cross_entropy(label_smoothing) if label_smoothing else \
        keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with trainer.scope():
        model = build()
        model.compile(keras.optimizers.Adam(learning_rate, beta_2=beta_2, clipnorm=clipnorm), loss,
                      weighted_metrics=["accuracy"], **trainer.compile_options())
    return model


def smoothed_cross_entropy(epsilon: float) -> Callable:
    """Cross-entropy of logits against integer targets smoothed by `epsilon` (Szegedy et
    al. 2016): Keras' sparse cross-entropy has no smoothing, and one-hot targets over a
    subword vocabulary would be a batch x length x vocabulary tensor."""
    def loss(targets, logits):
        log_probs = tf.nn.log_softmax(logits)
        chosen = tf.gather(log_probs, tf.cast(targets, tf.int32), batch_dims=2)
        return -(1.0 - epsilon) * chosen - epsilon * tf.reduce_mean(log_probs, -1)

    return loss


def fit_decoder(trainer: Trainer, model: "keras.Model", train: "tf.data.Dataset", validation: "tf.data.Dataset",
                epochs: int, steps: int | None, monitor: str, lr_patience: int | None, min_delta: float,
                save: Callable[[dict], None], title: str, score: Callable[[], float] | None = None,
                events: Events = SILENT, callbacks: list | None = None) -> tuple[dict, str]:
    """Trains with `score()` (a decoding score of validation data, higher is better)
    added to each epoch's logs as `monitor`, or, without one, `monitor` the validation
    loss: it keeps the best epoch, stops training and (unless `lr_patience` is None: a
    learning-rate schedule of its own) halves the learning rate when it stalls. Then
    `save(history)` writes the model and the training curves are drawn beside it (the
    chief only). Returns (history, the curves' path)."""
    mode = "max" if score else "min"
    callbacks = [*(callbacks or []), *([EpochScore(monitor, score)] if score else [])]
    if lr_patience is not None:
        callbacks.append(halve_on_plateau(monitor, lr_patience, min_delta, mode))
    callbacks.append(ProgressBar(epochs, steps, f"training {title}", events=events))
    history = trainer.fit(model, trainer.distribute(train), trainer.distribute(validation), epochs,
                          callbacks=callbacks, monitor=monitor, mode=mode)
    curves = trainer.output.rstrip("/") + ".curves.png"
    if trainer.is_chief:
        save(history)
        plots.training_curves(history, curves, title=title)
    trainer.finish()
    return history, curves
