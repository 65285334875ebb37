"""`dlkit train-sentiment`, `sentiment` and `evaluate-sentiment` on slices of real SST-2."""

import csv
import json
import shutil
import threading

import numpy as np
import pytest

from conftest import DATA, ROOT, need, tsv_rows

GLUE_DEV = "sst2/test_is_glue_dev.tsv"
TINY = ["--epochs", "3", "--seed", "1", "--max-length", "30", "--vocab-size", "4000", "-b", "64"]


@pytest.fixture(scope="module")
def slices(tmp_path_factory):
    """The same 8,000 training phrases in every layout dlkit reads (and the first 2,400 of
    them for the slower models), 300 dev phrases, 300 GLUE-dev sentences for testing."""
    sst2 = need(DATA / "sst2")
    root = tmp_path_factory.mktemp("sst2-slices")
    train, dev = tsv_rows(sst2 / "train.tsv", 8000), tsv_rows(sst2 / "dev.tsv", 300)
    test = tsv_rows(sst2 / "test_is_glue_dev.tsv", 300)

    # TSV exactly as SST-2 ships it, plus a line that is not UTF-8 and a row without a label
    for name, rows in [("train.tsv", train), ("small.tsv", train[:2400])]:
        with open(root / name, "wb") as f:
            f.write(b"sentence\tlabel\n")
            f.write(b"caf\xe9 society\t1\n")
            f.write(b"a row without its label\t\n")
            f.write("".join(f"{t}\t{y}\n" for t, y in rows).encode())
    (root / "dev.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in dev))

    # CSV with column names nobody could guess, and words for labels
    names = {"0": "bad", "1": "good"}
    for name, rows in [("train.csv", train), ("test.csv", test)]:
        with open(root / name, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["id", "snippet", "verdict"])
            writer.writerows((i, t, names[y]) for i, (t, y) in enumerate(rows))

    # JSON Lines with integer labels
    with open(root / "train.jsonl", "w") as f:
        for t, y in train:
            f.write(json.dumps({"text": t, "label": int(y)}) + "\n")

    # aclImdb: train/{pos,neg}, an unsup/ folder and loose files to ignore, and test/
    imdb = root / "aclImdb"
    for split, rows in [("train", train), ("test", test)]:
        for i, (t, y) in enumerate(rows):
            folder = imdb / split / ("pos" if y == "1" else "neg")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i}_{7 if y == '1' else 2}.txt").write_text(t.replace(" , ", " ,<br /><br />"))
    (imdb / "train" / "unsup").mkdir()
    (imdb / "train" / "unsup" / "0_0.txt").write_text("an unlabelled review")
    (imdb / "train" / "neg" / "bad_bytes.txt").write_bytes(b"\xff\xfe broken")
    (imdb / "imdb.vocab").write_text("the\nand\n")
    return root


def _train(cli_run, data, out, *extra):
    result, records, stderr = cli_run(["train-sentiment", data, "-o", out, *TINY, *extra])
    assert result.exit_code == 0, stderr
    assert "Traceback" not in stderr
    return records[-1], stderr


def _evaluate(cli_run, data, model, *extra):
    result, records, stderr = cli_run(["evaluate-sentiment", data, "--model", model, *extra])
    assert result.exit_code == 0, stderr
    return records[-1], stderr


@pytest.mark.slow
def test_tsv_trains_a_bilstm_that_beats_chance(cli_run, slices, data, tmp_path):
    model = tmp_path / "tsv"
    summary, stderr = _train(cli_run, slices / "train.tsv", model, "--validation", slices / "dev.tsv")
    assert "not UTF-8 (first: line 2)" in stderr and "1 row(s) with an empty text or label" in stderr
    assert summary["labels"] == ["negative", "positive"] and 0 <= summary["best_val_macro_f1"] <= 1
    assert sorted(p.name for p in model.iterdir()) == ["config.json", "model.keras", "model.onnx", "training.png",
                                                       "vocab.json"]
    assert not (tmp_path / "tsv.ckpt").exists()  # checkpoints dropped once the model is saved

    metrics, stderr = _evaluate(cli_run, data / GLUE_DEV, model)
    assert metrics["examples"] == 872 and metrics["accuracy"] > 0.65, metrics
    assert np.sum(metrics["confusion_matrix"]) == 872 and "true \\ predicted" in stderr
    assert metrics["labels"] == ["negative", "positive"] and 0 <= metrics["macro_f1"] <= 1
    assert np.sum(metrics["confusion_matrix"], axis=1).tolist() == [metrics["per_class"][name]["support"]
                                                                    for name in metrics["labels"]]

    result, records, _ = cli_run(["sentiment", "--model", model, "a masterpiece , moving and beautiful",
                                  "a boring , stupid and awful mess"])
    assert result.exit_code == 0
    assert [r["label"] for r in records] == ["positive", "negative"]
    assert all(0.5 < r["score"] <= 1 for r in records)


@pytest.mark.slow
def test_csv_jsonl_and_folder_layouts_train_the_ngram_model(cli_run, slices, data, tmp_path):
    result, _, stderr = cli_run(["train-sentiment", slices / "train.csv", "-o", tmp_path / "x", *TINY])
    assert result.exit_code == 1 and "Traceback" not in stderr
    assert "cannot tell which column holds the text (columns: id, snippet, verdict); pass --text-field" in stderr

    summary, _ = _train(cli_run, slices / "train.csv", tmp_path / "csv", "--arch", "ngrams",
                        "--text-field", "snippet", "--label-field", "verdict")
    assert summary["labels"] == ["bad", "good"]  # string labels are kept as they are
    # The old spellings still work, each with a one-line note.
    metrics, stderr = _evaluate(cli_run, slices / "test.csv", tmp_path / "csv", "--text-col", "snippet",
                                "--label-col", "verdict")
    assert "--text-col is deprecated: use --text-field" in stderr
    assert "--label-col is deprecated: use --label-field" in stderr
    assert metrics["examples"] == 300 and metrics["accuracy"] > 0.65, metrics

    summary, _ = _train(cli_run, slices / "train.jsonl", tmp_path / "jsonl", "--arch", "ngrams",
                        "--label-names", "neg,pos")
    assert summary["labels"] == ["neg", "pos"]
    metrics, _ = _evaluate(cli_run, data / GLUE_DEV, tmp_path / "jsonl")  # 0/1 map to neg/pos
    assert metrics["accuracy"] > 0.65, metrics

    summary, stderr = _train(cli_run, slices / "aclImdb", tmp_path / "imdb", "--arch", "ngrams")
    assert summary["labels"] == ["neg", "pos"]  # unsup/ is not a class
    assert "1 file(s) that are not UTF-8 (first: neg/bad_bytes.txt)" in stderr
    metrics, _ = _evaluate(cli_run, slices / "aclImdb", tmp_path / "imdb")  # reads test/
    assert metrics["examples"] == 300 and metrics["accuracy"] > 0.65, metrics


@pytest.mark.slow
def test_fine_tuning_goes_on_from_a_model_with_its_vocabulary_labels_and_network(cli_run, slices, tmp_path):
    """--init-from: the model's weights, vocabulary, labels and network (an option that
    would change the network is overridden), an int8 copy's in float32; data whose labels
    the model lacks is refused."""
    first = tmp_path / "first"
    _train(cli_run, slices / "train.csv", first, "--arch", "ngrams", "--text-field", "snippet",
           "--label-field", "verdict")
    test = [slices / "test.csv", "--text-field", "snippet", "--label-field", "verdict"]
    before, _ = _evaluate(cli_run, *test[:1], first, *test[1:])
    result, _, stderr = cli_run(["train-sentiment", slices / "train.tsv", "-o", tmp_path / "x", "--init-from", first,
                                 *TINY])
    assert result.exit_code == 1 and "labels negative, positive are not" in stderr and "--label-names" in stderr

    # A rate too small to learn anything from scratch in one epoch: what it knows, it started with.
    tuned = tmp_path / "tuned"
    summary, stderr = _train(cli_run, slices / "train.tsv", tuned, "--init-from", first, "--label-names", "bad,good",
                             "--arch", "bilstm", "--epochs", "1", "--learning-rate", "1e-6")
    assert "starting from" in stderr and summary["labels"] == ["bad", "good"]
    saved = json.loads((tuned / "config.json").read_text())
    assert saved["arch"] == "ngrams" and saved["init_from"] == str(first)
    assert (tuned / "vocab.json").read_bytes() == (first / "vocab.json").read_bytes()
    after, _ = _evaluate(cli_run, *test[:1], tuned, *test[1:])
    assert after["accuracy"] > 0.65 and abs(after["accuracy"] - before["accuracy"]) < 0.02, (before, after)

    # An int8 copy, as shipped models are, goes on in float32 from the weights it computes with.
    from dlkit import tasks
    from dlkit.core import modelio

    small, again = tmp_path / "int8", tmp_path / "again"
    assert cli_run(["quantize", first, "-o", small])[0].exit_code == 0
    summary, stderr = _train(cli_run, slices / "train.csv", again, "--init-from", small, *test[1:], "--epochs", "1",
                             "--learning-rate", "1e-6")
    assert "is int8: training goes on in float32" in stderr
    tasks.import_layers()
    assert not modelio.quantized(modelio.load_model(str(again / "model.keras")))
    after, _ = _evaluate(cli_run, *test[:1], again, *test[1:])
    assert abs(after["accuracy"] - before["accuracy"]) < 0.02, (before, after)

    (tmp_path / "none.tsv").write_text("")
    result, _, stderr = cli_run(["train-sentiment", tmp_path / "none.tsv", "-o", tmp_path / "mine", "--init-from",
                                 "shipped"])  # the shipped model: found, then the data is refused
    assert result.exit_code != 0 and "starting from " in stderr and "sentiment-sst2: its bigru network" in stderr


def test_bad_data_gives_clear_messages(cli_run, slices, tmp_path):
    (tmp_path / "nolabel.csv").write_text("text,author\ngreat film,me\n")
    (tmp_path / "empty.tsv").write_text("")
    (tmp_path / "one.tsv").write_text("sentence\tlabel\ngood\t1\nfine\t1\nnice\t1\n")
    cases = [
        (["train-sentiment", tmp_path / "nolabel.csv"], "cannot tell which column holds the label"),
        (["train-sentiment", slices / "train.tsv", "--label-field", "stars"], "no column 'stars'"),
        (["train-sentiment", tmp_path / "empty.tsv"], "the file is empty"),
        (["train-sentiment", tmp_path / "one.tsv"], "needs at least two labels"),
        (["train-sentiment", slices / "train.tsv", "--label-names", "a,b,c"], "3 names for 2 labels"),
        (["train-sentiment", slices / "train.tsv", "--arch", "bigru", "--cell", "dlkit-lstm"], "needs --arch bilstm"),
    ]
    for args, message in cases:
        result, _, stderr = cli_run([*args, "-o", tmp_path / "out"])
        assert result.exit_code == 1 and message in stderr and "Traceback" not in stderr, (args, stderr)
    result, _, stderr = cli_run(["sentiment", "--model", tmp_path, "hello"])
    assert result.exit_code == 1 and "config.json" in stderr and "Traceback" not in stderr
    # outputs that could not be written are refused before any data is read
    (tmp_path / "taken").write_text("a file")
    for target, message in [(tmp_path / "taken", "must be a folder, and a file is there"),
                            ("/proc/dlkit-model", "cannot write the model folder there")]:
        result, _, stderr = cli_run(["train-sentiment", tmp_path / "empty.tsv", "-o", target])
        assert result.exit_code == 1 and message in stderr and "Traceback" not in stderr, stderr


def test_dlkit_lstm_cell_matches_keras_lstm():
    from dlkit.core.runtime import keras
    from dlkit.tasks.sentiment.layers import DlkitLSTMCell

    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 7, 5)).astype("float32")
    mask = np.ones((4, 7), bool)
    mask[1, 4:] = mask[3, 2:] = False  # padded sentences: the state must carry over the padding
    reference = keras.layers.LSTM(6, return_sequences=True, return_state=True)
    ours = keras.layers.RNN(DlkitLSTMCell(6), return_sequences=True, return_state=True)
    reference(x), ours(x)
    weights = [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in reference.get_weights()]
    reference.set_weights(weights)
    ours.set_weights(weights)
    for expected, got in zip(reference(x, mask=mask), ours(x, mask=mask)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), atol=1e-5)
    # the default bias opens the forget gate, as Keras' unit_forget_bias does
    bias = DlkitLSTMCell(3)
    bias.build((None, 2))
    assert np.asarray(bias.bias).tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]


@pytest.mark.slow
def test_dlkit_lstm_cell_trains_through_the_cli(cli_run, slices, data, tmp_path):
    model = tmp_path / "cell"
    summary, _ = _train(cli_run, slices / "small.tsv", model, "--cell", "dlkit-lstm", "--units", "32",
                        "--embedding-dim", "32", "--validation", slices / "dev.tsv")
    assert json.loads((model / "config.json").read_text())["cell"] == "dlkit-lstm"
    assert "DlkitLSTMCell" in _archive_config(model / "model.keras")
    metrics, _ = _evaluate(cli_run, data / GLUE_DEV, model)
    assert metrics["accuracy"] > 0.62, metrics


@pytest.mark.slow
def test_stacked_layers_with_attention_pooling(cli_run, slices, data, tmp_path):
    from dlkit.core.runtime import keras
    from dlkit.tasks.sentiment.layers import AttentionPooling

    model = tmp_path / "attention"
    _train(cli_run, slices / "small.tsv", model, "--layers", "2", "--pooling", "attention", "--units", "16",
           "--embedding-dim", "32", "--validation", slices / "dev.tsv")
    loaded = keras.saving.load_model(str(model / "model.keras"), compile=False)
    assert sum(isinstance(layer, keras.layers.Bidirectional) for layer in loaded.layers) == 2
    assert any(isinstance(layer, AttentionPooling) for layer in loaded.layers)
    metrics, _ = _evaluate(cli_run, data / GLUE_DEV, model)
    assert metrics["accuracy"] > 0.6, metrics
    # int8 leaves the scorer inside AttentionPooling alone (it is rebuilt in float32 on loading)
    result, records, stderr = cli_run(["quantize", model, "-o", tmp_path / "int8", "--json"])
    assert result.exit_code == 0, stderr
    small, _ = _evaluate(cli_run, data / GLUE_DEV, tmp_path / "int8")
    assert abs(small["accuracy"] - metrics["accuracy"]) < 0.02
    result, _, stderr = cli_run(["quantize", tmp_path / "int8", "-o", tmp_path / "again"])
    assert result.exit_code != 0 and stderr.strip() == f"Error: {tmp_path / 'int8'} is int8 already (a dlkit " \
        "quantize copy, or a shipped model)"

    # padding gets no weight: the pooled vector ignores what lies under the mask
    pool = AttentionPooling()
    steps = np.random.default_rng(0).normal(size=(1, 5, 4)).astype("float32")
    noisy = steps.copy()
    noisy[:, 3:] = 100.0
    mask = np.array([[True, True, True, False, False]])
    np.testing.assert_allclose(pool(noisy, mask=mask), pool(steps[:, :3]), atol=1e-5)


@pytest.mark.slow
def test_ensemble_averages_its_members_and_keeps_finished_ones(cli_run, slices, data, tmp_path):
    import shutil

    from dlkit.core.runtime import keras

    small = ["--units", "16", "--embedding-dim", "32", "--validation", slices / "dev.tsv"]
    _train(cli_run, slices / "small.tsv", tmp_path / "single", *small)  # TINY uses --seed 1
    shutil.copytree(tmp_path / "single", tmp_path / "ens.members" / "seed-1")
    model = tmp_path / "ens"
    summary, stderr = _train(cli_run, slices / "small.tsv", model, "--ensemble", "2", *small)
    assert "seed-1: trained before, kept" in stderr and "(seed 2)" in stderr
    assert summary["members"] == 2 and 0.5 < summary["best_val_accuracy"] <= 1
    assert not (tmp_path / "ens.members").exists()
    assert json.loads((model / "config.json").read_text())["ensemble"] == 2

    ensemble = keras.saving.load_model(str(model / "model.keras"), compile=False)
    single = keras.saving.load_model(str(tmp_path / "single" / "model.keras"), compile=False)
    ids = np.array([[5, 17, 40, 3, 0, 0], [8, 9, 2, 11, 12, 13]], np.int32)
    members = [np.asarray(ensemble.get_layer(f"member_{k}")(ids)) for k in range(2)]
    np.testing.assert_allclose(members[0], np.asarray(single(ids)), atol=1e-6)
    np.testing.assert_allclose(np.asarray(ensemble(ids)), (members[0] + members[1]) / 2, atol=1e-6)
    assert not np.allclose(members[0], members[1])
    metrics, _ = _evaluate(cli_run, data / GLUE_DEV, model)
    assert metrics["accuracy"] > 0.6, metrics


@pytest.mark.slow
def test_cnn_trains_and_ignores_padding(cli_run, slices, data, tmp_path):
    from dlkit.core.runtime import keras

    model = tmp_path / "cnn"
    _train(cli_run, slices / "small.tsv", model, "--arch", "cnn", "--embedding-dim", "32",
           "--validation", slices / "dev.tsv")
    loaded = keras.saving.load_model(str(model / "model.keras"), compile=False)
    assert {"filters_3", "filters_4", "filters_5"} <= {layer.name for layer in loaded.layers}
    short, padded = np.array([[5, 17, 40, 3]]), np.array([[5, 17, 40, 3, 0, 0, 0, 0]])
    np.testing.assert_allclose(loaded(short), loaded(padded), atol=1e-6)
    metrics, _ = _evaluate(cli_run, data / GLUE_DEV, model)
    assert metrics["accuracy"] > 0.62, metrics


def _archive_config(path):
    import zipfile

    with zipfile.ZipFile(path) as archive:
        return archive.read("config.json").decode()


@pytest.mark.slow
def test_pretrained_embeddings_initialize_and_freeze(slices, data, tmp_path):
    from dlkit.core.runtime import keras
    from dlkit.tasks import sentiment
    from dlkit.text.tokens import Vocabulary
    from dlkit.text.vectors import load_embeddings

    glove = data / "glove" / "glove.6B.50d.50k.bin"
    config = sentiment.Config(embeddings=str(glove), freeze_embeddings=True, epochs=1, units=8,
                                       max_length=20, vocab_size=3000)
    sentiment.train(str(slices / "small.tsv"), str(tmp_path / "glove"), config, validation=str(slices / "dev.tsv"))
    model = keras.saving.load_model(str(tmp_path / "glove" / "model.keras"), compile=False)
    vocabulary = Vocabulary.load(str(tmp_path / "glove" / "vocab.json"))
    embedding = model.get_layer("embedding")
    assert not embedding.trainable and embedding.output_dim == 50
    vectors = load_embeddings(str(glove))
    film = vocabulary.ids["film"]
    np.testing.assert_allclose(np.asarray(embedding.embeddings)[film], vectors["film"])
    # Words the slice never shows come from the file (frozen: mapped onto themselves).
    assert len(vocabulary) == config.expand_vocabulary and "warmly" in vocabulary.ids
    np.testing.assert_allclose(np.asarray(embedding.embeddings)[vocabulary.ids["warmly"]], vectors["warmly"],
                               atol=1e-4)


def test_vocabulary_expansion_maps_unseen_words_as_training_moved_the_seen_ones():
    from gensim.models import KeyedVectors

    from dlkit.tasks.sentiment import model as sentiment
    from dlkit.tasks.sentiment.config import Config
    from dlkit.text.tokens import Vocabulary

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    vectors = KeyedVectors(4)
    vectors.add_vectors(words, rng.normal(size=(30, 4)).astype(np.float32))
    vocabulary = Vocabulary(words[:20] + ["typo"])  # "typo" has no vector
    config = Config(units=3, embeddings="vectors")

    def build(size):
        return sentiment.build_model(config, size, ["negative", "positive"], 4)

    model = build(len(vocabulary))
    rows = model.get_layer("embedding").get_weights()[0]
    shift, bias = rng.normal(size=(4, 4)), rng.normal(size=4)  # "fine-tuning" moved every seen word alike
    for w in words[:20]:
        rows[vocabulary.ids[w]] = vectors[w] @ shift + bias
    model.get_layer("embedding").set_weights([rows])
    grown, expanded = sentiment.expand_vocabulary(model, vocabulary, vectors, len(vocabulary) + 2, build)
    assert grown.tokens == vocabulary.tokens + ["w20", "w21"]
    grown_rows = expanded.get_layer("embedding").get_weights()[0]
    np.testing.assert_allclose(grown_rows[: len(vocabulary)], rows, atol=1e-6)
    for w in ("w20", "w21"):
        np.testing.assert_allclose(grown_rows[grown.ids[w]], vectors[w] @ shift + bias, atol=1e-4)
    ids = np.array([[2, 3, 22]])
    np.testing.assert_allclose(expanded(ids), model(ids), atol=1e-6)  # known texts score as before


@pytest.mark.slow
def test_interrupted_training_resumes(slices, tmp_path):
    from dlkit.core.runtime import keras
    from dlkit.core.training_config import TrainConfig
    from dlkit.tasks import sentiment

    class Interrupt(keras.callbacks.Callback):
        def __init__(self, at=None):
            super().__init__()
            self.at, self.epochs = at, []

        def on_epoch_begin(self, epoch, logs=None):
            if epoch == self.at:
                raise KeyboardInterrupt
            self.epochs.append(epoch)

    config = sentiment.Config(arch="ngrams", epochs=2, vocab_size=3000)
    out = str(tmp_path / "model")
    with pytest.raises(KeyboardInterrupt):
        sentiment.train(str(slices / "small.tsv"), out, config, TrainConfig(seed=1), callbacks=[Interrupt(1)])
    # no half-written model, and no lock left to refuse the rerun
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.ckpt"]
    watch = Interrupt()
    run = sentiment.train(str(slices / "small.tsv"), out, config, TrainConfig(seed=1, resume=True),
                          callbacks=[watch])
    assert watch.epochs == [1]  # only the missing epoch is trained
    assert run.model == out and run.history["loss"] and len(run.history["val_accuracy"]) == 2
    assert run.summary["epochs"] == 2 and sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert len(json.loads((tmp_path / "model" / "config.json").read_text())["labels"]) == 2


def test_stdin_is_streamed_and_bad_lines_reported(cli_run, slices, tmp_path):
    from dlkit.tasks import sentiment

    model = _shipped_or_skip()
    stdin = b"a triumph , funny and warm\n\n\xff\xfe not utf-8\n   \nthe worst film of the year\n"
    result, records, stderr = cli_run(["sentiment", "-", "--model", model], input=stdin)
    assert result.exit_code == 1 and "Traceback" not in stderr
    assert [r.get("label") for r in records] == ["positive", None, None, None, "negative"]
    assert records[1]["error"] == records[3]["error"] == "empty text"
    assert "not UTF-8" in records[2]["error"]

    answered = threading.Event()

    def texts():
        yield from ["good", "bad"]
        assert answered.wait(30)  # the input stays open until the first batch is answered
        yield from ["fine", "", "great"]

    records = sentiment.load(model, batch_size=2).predict(texts())
    assert next(records)["label"] == "positive"
    answered.set()
    assert [r.get("error") for r in records] == [None, None, "empty text", None]

    result, _, _ = cli_run(["sentiment", "--model", model, "--table", "lovely"])
    assert "┃ label" in result.stdout and "positive" in result.stdout


def test_broken_model_folders_are_one_clear_line(cli_run, tmp_path):
    shipped = _shipped_or_skip()

    def broken(name, file, change):
        folder = tmp_path / name
        shutil.copytree(shipped, folder)
        path = folder / file
        path.write_text(json.dumps(change(json.loads(path.read_text()))))
        return folder

    def field(key, value):
        return lambda config: {**config, key: value}

    def settings(key, value):
        return lambda config: {**config, "settings": {**config["settings"], key: value}}

    cases = [
        (broken("list", "vocab.json", lambda vocab: vocab["tokens"]),
         'vocab.json: expected a JSON object with a "tokens" list, not a list'),
        (broken("numbers", "vocab.json", lambda vocab: {"tokens": [1, 2]}), '"tokens" must be a list of strings'),
        (broken("grown", "vocab.json", lambda vocab: {"tokens": vocab["tokens"] + [f"w{i}" for i in range(50)]}),
         "words, but model.keras embeds only"),
        (broken("negative", "config.json", field("max_length", -5)),
         "config.json: max_length must be at least 1, not -5"),
        (broken("labels", "config.json", field("labels", ["negative", "neutral", "positive"])),
         "config.json: labels names 3 labels, but model.keras gives 2 outputs"),
        (broken("text", "config.json", field("labels", "negative,positive")), "config.json: labels must be a list"),
        (broken("swapped", "config.json", field("labels", ["positive", "negative"])),
         "config.json: labels positive, negative differ from model.keras' own (negative, positive)"),
        (broken("dropout", "config.json", settings("dropout", 2.0)), "config.json: dropout must be at most 0.95"),
        (broken("array", "config.json", lambda config: [config]), "config.json: expected a JSON object"),
    ]
    for folder, message in cases:
        result, records, stderr = cli_run(["sentiment", "--model", folder, "a good film"])
        assert result.exit_code == 1 and not records, (folder, stderr)
        assert message in stderr and len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr, stderr
    # the shipped folder itself, and a plain copy of it, load as they are
    shutil.copytree(shipped, tmp_path / "copy")
    result, records, _ = cli_run(["sentiment", "--model", tmp_path / "copy", "a good film"])
    assert result.exit_code == 0 and records[0]["label"] == "positive"


def _shipped_or_skip():
    from dlkit.core import modelio

    try:
        return modelio.pretrained_path("sentiment")
    except Exception as e:
        pytest.skip(f"no shipped sentiment model: {e}")


def test_shipped_model_labels_obvious_sentences(cli_run):
    assert (ROOT / "pretrained" / "sentiment-sst2" / "model.keras").stat().st_size < 10e6
    sentences = {
        "What a wonderful film": "positive",
        "A moving , beautifully acted story": "positive",
        "I loved every minute of it .": "positive",
        "A dull , lifeless and boring mess": "negative",
        "The worst movie I have ever seen .": "negative",
        "The plot is stupid and the acting is terrible .": "negative",
    }
    result, records, stderr = cli_run(["sentiment", *sentences])
    assert result.exit_code == 0, stderr
    assert {r["input"]: r["label"] for r in records} == sentences


def test_evaluate_gives_the_shared_classification_record(tmp_path):
    """The shipped model on six obvious sentences and one mislabelled: dlkit.core.metrics'
    classification record, its matrix drawn on request and printable as text."""
    from dlkit.tasks import sentiment
    from dlkit.tasks.sentiment.predict import confusion_text

    rows = [("What a wonderful film", 1), ("A moving , beautifully acted story", 1),
            ("I loved every minute of it .", 1), ("A dull , lifeless and boring mess", 0),
            ("The worst movie I have ever seen .", 0), ("The plot is stupid and the acting is terrible .", 0),
            ("I loved every minute of it .", 0)]  # a wrong label: predicted positive, truly "negative"
    (tmp_path / "obvious.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    plot = tmp_path / "confusion.png"
    record = sentiment.evaluate(str(tmp_path / "obvious.tsv"), plot=str(plot))
    assert record["data"] == str(tmp_path / "obvious.tsv") and record["examples"] == 7
    assert record["labels"] == ["negative", "positive"]
    assert record["confusion_matrix"] == [[3, 1], [0, 3]]  # rows: the true label
    assert record["per_class"] == {"negative": {"precision": 1.0, "recall": 0.75, "f1": 0.857143, "support": 4},
                                   "positive": {"precision": 0.75, "recall": 1.0, "f1": 0.857143, "support": 3}}
    assert record["accuracy"] == 0.857143 and record["macro_f1"] == 0.857143
    assert record["confusion_plot"] == str(plot) and plot.stat().st_size > 1000
    text = confusion_text(record["confusion_matrix"], record["labels"])
    assert confusion_text(record) == text and text.splitlines()[1].split() == ["negative", "3", "1"]


def test_label_map_names_binary_labels():
    from dlkit.core.errors import DlkitError
    from dlkit.tasks.sentiment.data import label_map

    assert label_map(["1", "0", "1"]) == {"0": "negative", "1": "positive"}
    assert label_map(["10", "2", "neutral"]) == {"2": "2", "10": "10", "neutral": "neutral"}
    assert label_map(["pos", "neg"], ("bad", "good")) == {"neg": "bad", "pos": "good"}
    with pytest.raises(DlkitError, match="2 names for 3 labels"):
        label_map(["a", "b", "c"], ("x", "y"))
    # one number in several spellings is one label; a label that only looks numeric is a word
    assert label_map(["1", "1.0", "0", "+1"]) == {"0": "negative", "1": "positive", "1.0": "positive",
                                                 "+1": "positive"}
    assert label_map(["--1", "2", "-1"]) == {"-1": "-1", "2": "2", "--1": "--1"}


def test_odd_labels_train_without_surprises(cli_run, tmp_path):
    rows = [("a fine , warm film", "1"), ("warm and funny", "1.0"), ("a dull mess", "0"), ("good", "positive"),
            ("awful", "--1")] * 4
    (tmp_path / "odd.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    summary, stderr = _train(cli_run, tmp_path / "odd.tsv", tmp_path / "odd", "--arch", "ngrams", "--epochs", "1")
    assert summary["labels"] == ["0", "1", "--1", "positive"]  # 1 and 1.0 are one class
    assert "the labels mix numbers and words" in stderr


def test_unknown_compounds_are_read_as_their_parts():
    from dlkit.tasks.sentiment.data import encode
    from dlkit.text.tokens import Vocabulary

    vocabulary = Vocabulary(["a", "bone", "crushing", "well-made", "film"])
    ids = vocabulary.ids
    (row,) = encode(["A bone-crushing, well-made film"], vocabulary, 50)
    assert list(row) == [ids["a"], ids["bone"], ids["crushing"], 1, ids["well-made"], ids["film"]]  # 1: ","
