"""The Transformer translator (Vaswani et al. 2017) on TensorFlow: its training graph and
the encoder and one-subword step its ONNX twin is made of (the recurrent translator's
are in dlkit.tasks.translator.model and .twin; both decode through the same search).

Pre-layer-normalization blocks (Xiong et al. 2020): they train without the careful
warm-up the original post-norm ones need, which a few CPU epochs cannot afford to tune.
The step keeps, for each decoder layer, the keys and values of the subwords already
written (its states, growing by one position a step) and reads the encoder's keys and
values for the cross-attention, computed once per sentence (its context): a step costs
one position's work, not the whole prefix's.
"""

from dlkit.core.decoding import DecoderGraphs
from dlkit.core.runtime import keras, tf
from dlkit.tasks.translator.config import Config
from dlkit.tasks.translator.layers import Positions
from dlkit.tasks.translator.subwords import PAD


def build_model(config: Config, source_vocab: int, target_vocab: int) -> "keras.Model":
    """The teacher-forced training graph; the inference graphs reuse its layers by name."""
    dim = config.embedding_dim
    source = keras.Input((None,), dtype="int32", name="source")
    decoder_in = keras.Input((None,), dtype="int32", name="decoder_in")
    source_mask = keras.ops.not_equal(source, PAD)
    x = keras.layers.Embedding(source_vocab, dim, name="source_embedding")(source)
    x = keras.layers.Dropout(config.dropout)(Positions(name="source_positions")(x))
    for i in range(config.encoder_layers):
        h = keras.layers.LayerNormalization(name=f"encoder_{i}_norm_1")(x)
        x = x + keras.layers.Dropout(config.dropout)(_attention(config, f"encoder_{i}_attention")(
            h, h, attention_mask=source_mask[:, None, :]))
        x = x + _feed_forward(keras.layers.LayerNormalization(name=f"encoder_{i}_norm_2")(x), config,
                              f"encoder_{i}")
    memory = keras.layers.LayerNormalization(name="encoder_norm")(x)

    y = keras.layers.Embedding(target_vocab, dim, name="target_embedding")(decoder_in)
    y = keras.layers.Dropout(config.dropout)(Positions(name="target_positions")(y))
    for i in range(config.decoder_layers):
        h = keras.layers.LayerNormalization(name=f"decoder_{i}_norm_1")(y)
        y = y + keras.layers.Dropout(config.dropout)(_attention(config, f"decoder_{i}_self_attention")(
            h, h, use_causal_mask=True))
        h = keras.layers.LayerNormalization(name=f"decoder_{i}_norm_2")(y)
        y = y + keras.layers.Dropout(config.dropout)(_attention(config, f"decoder_{i}_cross_attention")(
            h, memory, attention_mask=source_mask[:, None, :]))
        y = y + _feed_forward(keras.layers.LayerNormalization(name=f"decoder_{i}_norm_3")(y), config,
                              f"decoder_{i}")
    y = keras.layers.LayerNormalization(name="decoder_norm")(y)
    logits = keras.layers.Dense(target_vocab, name="logits", dtype="float32")(y)
    return keras.Model([source, decoder_in], logits, name="transformer_translator")


def _attention(config: Config, name: str) -> "keras.layers.MultiHeadAttention":
    return keras.layers.MultiHeadAttention(config.heads, config.embedding_dim // config.heads,
                                           dropout=config.dropout, name=name)


def _feed_forward(x, config: Config, prefix: str):
    x = keras.layers.Dense(config.feed_forward, activation="relu", name=f"{prefix}_feed_forward_1")(x)
    x = keras.layers.Dense(config.embedding_dim, name=f"{prefix}_feed_forward_2")(x)
    return keras.layers.Dropout(config.dropout)(x)


def inference_graphs(model: "keras.Model", config: Config) -> DecoderGraphs:
    """Encoder and single-subword step from the trained layers.

    encode(source) -> context [mask, key and value of each decoder layer's
    cross-attention], states [key and value of each decoder layer's self-attention over
    the subwords written so far: none yet]. The states' time axis starts empty and grows
    by one each step; the step's position is its length.

    Keys are kept as (rows, heads, key_dim, positions) and values as (rows, heads,
    positions, key_dim): what a step's two matrix products read as they are. Kept as the
    layers compute them (rows, positions, heads, key_dim), every step transposed every
    key and value of every layer again, and those transposes were half the ONNX step's
    time."""
    layer = model.get_layer
    source_embedding, source_positions = layer("source_embedding"), layer("source_positions")
    target_embedding, target_positions = layer("target_embedding"), layer("target_positions")
    encoder = [(layer(f"encoder_{i}_norm_1"), layer(f"encoder_{i}_attention"), layer(f"encoder_{i}_norm_2"),
                _dense_pair(layer, f"encoder_{i}")) for i in range(config.encoder_layers)]
    encoder_norm, decoder_norm, logits_layer = layer("encoder_norm"), layer("decoder_norm"), layer("logits")
    decoder = [{"norms": [layer(f"decoder_{i}_norm_{k}") for k in (1, 2, 3)],
                "self": layer(f"decoder_{i}_self_attention"), "cross": layer(f"decoder_{i}_cross_attention"),
                "feed_forward": _dense_pair(layer, f"decoder_{i}")} for i in range(config.decoder_layers)]

    def encode(source):
        mask = tf.not_equal(source, PAD)
        x = source_positions(source_embedding(source))
        for norm_1, attention, norm_2, feed_forward in encoder:
            h = norm_1(x)
            x = x + attention(h, h, attention_mask=mask[:, None, :], training=False)
            x = x + feed_forward(norm_2(x))
        memory = encoder_norm(x)
        context = [mask]
        for block in decoder:
            cross = block["cross"]
            context += [_keys_transposed(cross._key_dense(memory)), _heads_first(cross._value_dense(memory))]
        # Empty caches whose length the graph does not know: a static 0 would fix the
        # step's state inputs at length 0.
        rows, none = tf.shape(source)[0], tf.shape(source)[1] * 0
        cache = []
        for block in decoder:
            heads, key_dim = block["self"].num_heads, block["self"].key_dim
            cache += [tf.zeros([rows, heads, key_dim, none]), tf.zeros([rows, heads, none, key_dim])]
        return context, cache

    def step(tokens, states, mask, *cross):
        position = tf.shape(states[0])[3]
        y = target_positions(target_embedding(tokens[:, None]), start=position)
        new_states, attention = [], None
        for i, block in enumerate(decoder):
            norm_1, norm_2, norm_3 = block["norms"]
            keys, values = states[2 * i], states[2 * i + 1]
            h = norm_1(y)
            keys = tf.concat([keys, _keys_transposed(block["self"]._key_dense(h))], 3)
            values = tf.concat([values, _heads_first(block["self"]._value_dense(h))], 2)
            new_states += [keys, values]
            y = y + _attend(block["self"], h, keys, values, None)[0]
            out, attention = _attend(block["cross"], norm_2(y), cross[2 * i], cross[2 * i + 1], mask)
            y = y + out
            y = y + block["feed_forward"](norm_3(y))
        logits = logits_layer(decoder_norm(y))[:, 0]
        # The last layer's cross-attention, averaged over heads: where the step looked.
        return tf.nn.log_softmax(logits), new_states, tf.reduce_mean(attention, 1)[:, 0]

    return DecoderGraphs(encode, step)


def _dense_pair(layer, prefix: str):
    first, second = layer(f"{prefix}_feed_forward_1"), layer(f"{prefix}_feed_forward_2")
    return lambda x: second(first(x))


def _keys_transposed(projected):
    """(rows, positions, heads, key_dim), as a layer projects them -> (rows, heads, key_dim, positions)."""
    return tf.transpose(projected, [0, 2, 3, 1])


def _heads_first(x):
    """(rows, positions, heads, key_dim) <-> (rows, heads, positions, key_dim)."""
    return tf.transpose(x, [0, 2, 1, 3])


def _attend(attention: "keras.layers.MultiHeadAttention", h, keys, values, mask):
    """One query position's multi-head attention over projected `keys` and `values`
    (laid out by _keys_transposed and _heads_first; what MultiHeadAttention computes
    inside, from its own projections): (output, weights (rows, heads, 1, keys))."""
    query = _heads_first(attention._query_dense(h) * (1.0 / float(attention.key_dim) ** 0.5))
    scores = tf.matmul(query, keys)
    if mask is not None:
        scores += (1.0 - tf.cast(mask[:, None, None, :], scores.dtype)) * -1e9
    weights = tf.nn.softmax(scores, -1)
    return attention._output_dense(_heads_first(tf.matmul(weights, values))), weights
