"""A translator on TensorFlow, for inference: its graphs, the encoder from source subword
ids to the decoder's start and the one-subword step, which its ONNX twin is made of
(what dlkit.tasks.translator.predict runs) and the predictor's Keras runtime runs; and
the twin's writer."""

import os

from dlkit import export
from dlkit.core import modelio
from dlkit.core.decoding import DecoderGraphs, Exportable, check_vocabulary, unmasked
from dlkit.core.runtime import keras, tf
from dlkit.tasks.translator import transformer
from dlkit.tasks.translator.config import Config
from dlkit.tasks.translator.subwords import BOS, EOS, PAD, Subwords
from dlkit.text.tokens import pad


def write(source: str, target: dict[str, str]) -> dict:
    """Writes the twin of the translator whose model file is `source` (<folder>/model.keras)
    to target["encoder"] and target["step"], checked against Keras over the first subwords."""
    graphs = exportable(os.path.dirname(os.path.abspath(source)))
    model = graphs.models[0]
    # What the predictor checks each subword model against: the layers it feeds and names.
    sizes = {"source.spm": {"source_embedding": model.get_layer("source_embedding").input_dim},
             "target.spm": {"target_embedding": model.get_layer("target_embedding").input_dim,
                            "logits": model.get_layer("logits").units}}
    return export.write_decoder_twin(source, graphs, target, {"vocabularies": sizes})


def exportable(folder: str) -> Exportable:
    """The translator folder `folder` on Keras, for its ONNX twin, `dlkit export` and the
    predictor's Keras runtime: the encoder (source subword ids, 0-padded, each row ending
    in the end id) and the one-subword step, with the decoding settings; its subword
    models checked against the model."""
    config, _ = modelio.read_folder(folder, "translator", "train-translator", Config,
                                    files=("model.keras", "source.spm", "target.spm"))
    src, tgt = (Subwords.read(os.path.join(folder, n)) for n in ("source.spm", "target.spm"))
    model = modelio.load_model(os.path.join(folder, "model.keras"))
    check_vocabulary(model, len(src), os.path.join(folder, "source.spm"), ("source_embedding",))
    check_vocabulary(model, len(tgt), os.path.join(folder, "target.spm"), ("target_embedding", "logits"))
    samples = src.encode(["How are you?", "The cat sleeps on the sofa."])
    ids = pad([row[: config.max_length - 1] + [EOS] for row in samples])
    return Exportable(inference_graphs(model, config), [tf.TensorSpec([None, None], tf.int32, name="source")],
                      [model], [ids], assets={"source.spm": src.write, "target.spm": tgt.write},
                      decoding=decoding(config))


def decoding(config: Config) -> dict:
    """What the search needs besides the graphs (the twin keeps it in its metadata)."""
    return {"bos": BOS, "eos": EOS, "pad": PAD, "max_length": config.max_length,
            "length_alpha": config.length_alpha, "beam_size": config.beam_size}


def inference_graphs(model: "keras.Model", config: Config) -> DecoderGraphs:
    """Encoder and single-step decoder, from the trained layers."""
    if config.arch == "transformer":
        return transformer.inference_graphs(model, config)
    embed_source = model.get_layer("source_embedding")
    encoder = model.get_layer("bidirectional_encoder" if config.bidirectional else "encoder")
    embed_target = model.get_layer("target_embedding")
    decoder, attention = model.get_layer("decoder"), model.get_layer("attention")
    combine, logits_layer = model.get_layer("combine"), model.get_layer("logits")
    join = keras.layers.Concatenate()

    def encode(source):
        mask = tf.not_equal(source, PAD)
        encoded, *states = encoder(embed_source(source), mask=mask, training=False)
        return [encoded, mask], merge_directions(states, config, lambda f, b: tf.concat([f, b], -1))

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


def merge_directions(states: list, config: Config, join) -> list:
    """A bidirectional encoder's forward and backward states, each pair joined by
    `join(forward, backward)` for the decoder."""
    if not config.bidirectional:
        return states
    half = len(states) // 2
    return [join(f, b) for f, b in zip(states[:half], states[half:])]
