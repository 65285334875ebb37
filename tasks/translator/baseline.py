"""The keras.io character-level LSTM seq2seq (no attention, no subwords), trained for
the same wall-clock time as dlkit's translator on the same training split, scored on
the same held-out test split.

    python tasks/translator/baseline.py ../shared/data/anki/fra.txt --seconds 1800

Model and decoding follow the keras.io example "Character-level recurrent
sequence-to-sequence model": one-hot characters, a 256-unit LSTM encoder whose states
start a 256-unit LSTM decoder, softmax over characters, RMSprop, greedy decoding. The
one-hot vectors are made on the fly (tf.one_hot) so that all training pairs fit in memory.
"""

import argparse
import json
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--seconds", type=float, required=True, help="training time budget")
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-chars", type=int, default=60, help="longer pairs are left out of training")
    parser.add_argument("--test-sentences", type=int, default=0, help="0: the whole test split")
    args = parser.parse_args()

    from dlkit.core import runtime
    from dlkit.tasks.translator import Config, corpus_scores, read_pairs, references, split_pairs

    runtime.setup("auto", seed=0)
    tf, keras = runtime.tf, runtime.keras
    config = Config()
    train, _, test = split_pairs(read_pairs(args.data), config.val_fraction, config.test_fraction)
    keep = [(s, "\t" + t + "\n") for s, t in zip(train.sources, train.targets)
            if len(s) <= args.max_chars and len(t) + 2 <= args.max_chars]
    source_chars = sorted({c for s, _ in keep for c in s})
    target_chars = sorted({c for _, t in keep for c in t})
    src_index = {c: i + 1 for i, c in enumerate(source_chars)}  # 0: padding / unknown
    tgt_index = {c: i + 1 for i, c in enumerate(target_chars)}
    n_src, n_tgt = len(src_index) + 1, len(tgt_index) + 1

    def ids(text, index, length):
        row = np.zeros(length, np.int32)
        row[: len(text)] = [index.get(c, 0) for c in text[:length]]
        return row

    enc = np.stack([ids(s, src_index, args.max_chars) for s, _ in keep])
    dec = np.stack([ids(t, tgt_index, args.max_chars) for _, t in keep])
    target = np.concatenate([dec[:, 1:], np.zeros((len(dec), 1), np.int32)], axis=1)
    dataset = tf.data.Dataset.from_tensor_slices(((enc, dec), target)).shuffle(len(enc), seed=0)
    dataset = dataset.map(lambda x, y: ((tf.one_hot(x[0], n_src), tf.one_hot(x[1], n_tgt)), tf.one_hot(y, n_tgt)))
    dataset = dataset.batch(args.batch_size).prefetch(tf.data.AUTOTUNE)

    encoder_inputs = keras.Input((None, n_src))
    _, h, c = keras.layers.LSTM(args.units, return_state=True)(encoder_inputs)
    decoder_inputs = keras.Input((None, n_tgt))
    decoder_lstm = keras.layers.LSTM(args.units, return_sequences=True, return_state=True)
    decoded, _, _ = decoder_lstm(decoder_inputs, initial_state=[h, c])
    dense = keras.layers.Dense(n_tgt, activation="softmax")
    model = keras.Model([encoder_inputs, decoder_inputs], dense(decoded))
    model.compile("rmsprop", "categorical_crossentropy")

    class Budget(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if time.perf_counter() - self.start > args.seconds:
                self.model.stop_training = True

    started = time.perf_counter()
    history = model.fit(dataset, epochs=1000, callbacks=[Budget()], verbose=0)
    seconds = time.perf_counter() - started

    encoder = keras.Model(encoder_inputs, [h, c])
    state_h, state_c = keras.Input((args.units,)), keras.Input((args.units,))
    out, new_h, new_c = decoder_lstm(decoder_inputs, initial_state=[state_h, state_c])
    decoder = keras.Model([decoder_inputs, state_h, state_c], [dense(out), new_h, new_c])
    inverse = {i: c for c, i in tgt_index.items()}

    sources, refs = references(test)
    if args.test_sentences:
        sources, refs = sources[: args.test_sentences], refs[: args.test_sentences]
    hypotheses = []
    for start in range(0, len(sources), 256):
        chunk = sources[start: start + 256]
        x = tf.one_hot(np.stack([ids(s, src_index, args.max_chars) for s in chunk]), n_src)
        states = encoder.predict_on_batch(x)
        token = np.zeros((len(chunk), 1, n_tgt), np.float32)
        token[:, 0, tgt_index["\t"]] = 1
        texts, done = [""] * len(chunk), np.zeros(len(chunk), bool)
        for _ in range(args.max_chars):
            probs, *states = decoder.predict_on_batch([token, *states])
            best = probs[:, -1].argmax(-1)
            token = np.zeros_like(token)
            token[np.arange(len(chunk)), 0, best] = 1
            for i, j in enumerate(best):
                char = inverse.get(int(j), "")
                if char == "\n":
                    done[i] = True
                elif not done[i]:
                    texts[i] += char
            if done.all():
                break
        hypotheses.extend(texts)
    scores = corpus_scores(hypotheses, refs)
    print(json.dumps({"model": "keras.io char-level seq2seq (no attention)", "train_pairs": len(keep),
                      "epochs": len(history.history["loss"]), "seconds": round(seconds, 1),
                      "test_sentences": len(sources), **scores,
                      "examples": [[s, h] for s, h in zip(sources[:5], hypotheses[:5])]}, ensure_ascii=False))


if __name__ == "__main__":
    main()
