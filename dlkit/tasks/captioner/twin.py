"""A captioner on TensorFlow, for inference: its graphs, the encoder from RGB pixels
0..255 through the CNN to the decoder's start and the one-word step, which its ONNX twin
is made of (what dlkit.tasks.captioner.predict runs) and the predictor's Keras runtime
runs; and the twin's writer."""

import os

import numpy as np

from dlkit import export
from dlkit.core import modelio
from dlkit.core.decoding import DecoderGraphs, Exportable, check_vocabulary, unmasked
from dlkit.core.runtime import tf
from dlkit.tasks.captioner import layers  # noqa: F401 (registers AttentionCoverage, which model.keras names)
from dlkit.tasks.captioner.config import Config
from dlkit.tasks.captioner.data import BOS, EOS, FeatureCache
from dlkit.text.tokens import Vocabulary


def write(source: str, target: dict[str, str]) -> dict:
    """Writes the twin of the captioner whose model file is `source` (<folder>/model.keras)
    to target["encoder"] and target["step"], checked against Keras over the first words."""
    graphs = exportable(os.path.dirname(os.path.abspath(source)))
    model = graphs.models[0]
    # What the predictor checks vocab.json against: the layers it feeds and names.
    sizes = {"vocab.json": {"embedding": model.get_layer("embedding").input_dim,
                            "logits": model.get_layer("logits").units}}
    return export.write_decoder_twin(source, graphs, target, {"vocabularies": sizes})


def exportable(folder: str) -> Exportable:
    """The captioner folder `folder` on Keras, for its ONNX twin, `dlkit export` and the
    predictor's Keras runtime: the encoder from RGB pixels 0..255 (the CNN included, so a
    runtime needs nothing else) and the one-word step, with the decoding settings; its
    vocabulary checked against the model."""
    config, _ = modelio.read_folder(folder, "captioner", "train-captioner", Config,
                                    files=("model.keras", "vocab.json"))
    vocab = Vocabulary.load(os.path.join(folder, "vocab.json"))
    model = modelio.load_model(os.path.join(folder, "model.keras"))
    check_vocabulary(model, len(vocab), os.path.join(folder, "vocab.json"), ("embedding", "logits"))
    graphs = inference_graphs(model, config)
    cache = FeatureCache(config.backbone, config.image_size, config.attention, write=False)
    side = config.image_size
    pixels = np.random.default_rng(0).uniform(0, 255, (2, side, side, 3)).astype(np.float32)
    return Exportable(DecoderGraphs(lambda pixels: graphs.encode(_regions(cache.features(pixels))), graphs.step),
                      [tf.TensorSpec([None, side, side, 3], tf.float32, name="pixels")], [model, cache.network()],
                      [pixels], assets={"vocab.json": vocab.save}, decoding=decoding(vocab, config))


def decoding(vocab: Vocabulary, config: Config) -> dict:
    """What the search needs besides the graphs (the twin keeps it in its metadata)."""
    return {"bos": vocab.ids[BOS], "eos": vocab.ids[EOS], "banned": [0, vocab.ids[Vocabulary.UNK], vocab.ids[BOS]],
            "max_length": config.max_length, "length_alpha": config.length_alpha, "beam_size": config.beam_size}


def _regions(features):
    """CNN features as (photos, regions, channels), as the cache stores them."""
    return tf.reshape(features, (tf.shape(features)[0], -1, features.shape[-1]))


def inference_graphs(model: "keras.Model", config: Config) -> DecoderGraphs:
    """Start state and single-word step, from the trained layers."""
    project, init_h, init_c = (model.get_layer(n) for n in ("project", "init_h", "init_c"))
    embed, decoder, logits_layer = (model.get_layer(n) for n in ("embedding", "decoder", "logits"))
    attention = model.get_layer("attention") if config.attention else None
    combine = model.get_layer("combine") if config.attention else None

    def start(features):
        memory = project(features)
        mean = tf.reduce_mean(memory, axis=1)
        return [memory], [init_h(mean), init_c(mean)]

    def step(tokens, states, memory):
        # The LSTM's cell, not the layer: one word needs no loop over time (cheaper, and
        # what the ONNX converter handles).
        decoded, (h, c) = decoder.cell(unmasked(embed(tokens)), states, training=False)
        decoded = decoded[:, None]
        if attention is None:
            scores = tf.zeros((tf.shape(memory)[0], 1, tf.shape(memory)[1]))
        else:
            context, scores = attention([decoded, memory], return_attention_scores=True, training=False)
            decoded = combine(tf.concat([decoded, context], -1))
        return tf.nn.log_softmax(logits_layer(decoded)[:, 0]), [h, c], scores[:, 0]

    return DecoderGraphs(start, step)
