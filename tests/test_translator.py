"""Machine translation on a real slice of Tatoeba fra-eng (../shared/data/anki/fra.txt)."""

import io
import json
import re
import shutil
import subprocess
import zipfile
import sys
from pathlib import Path

import h5py
import pytest

from conftest import DATA, ROOT, lines_slice, need


@pytest.fixture(scope="module")
def translator_dir(tmp_path_factory):
    """A tiny translator trained through the CLI on 4,000 short pairs plus two broken lines."""
    from click.testing import CliRunner

    from dlkit.cli import cli

    tmp = tmp_path_factory.mktemp("translate")
    data = lines_slice(DATA / "anki" / "fra.txt", tmp / "pairs.tsv", 4000,
                       extra=["only one column", "\tempty English side"])
    out = tmp / "en-fr"
    result = CliRunner().invoke(cli, ["train-translator", str(data), "-o", str(out), "--vocab-size", "400",
                                      "--units", "48", "--embedding-dim", "48", "--epochs", "3", "--lr", "0.005",
                                      "--bleu-sentences", "40", "--seed", "1", "--json"])
    assert result.exit_code == 0, result.output
    return data, out, result


@pytest.mark.slow
def test_training_skips_malformed_lines_and_saves_a_model_folder(translator_dir):
    _, out, result = translator_dir
    assert "skipped 2 malformed line(s)" in result.stderr
    assert "freezing" not in result.stderr  # tf2onnx's warnings while it writes the LSTM's twin
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["skipped"] == 2 and summary["epochs"] >= 1 and "best_val_bleu" in summary
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.encoder.onnx", "model.keras",
                                                     "model.step.onnx", "source.spm", "target.spm"]
    # the name its pairs copy most reliably, to stand in for names the model would garble
    assert json.loads((out / "config.json").read_text())["name_placeholders"] == ["Tom"]
    with zipfile.ZipFile(out / "model.keras") as archive:  # weights only: Adam's slots would triple the file
        weights = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
        assert "optimizer" not in weights and "layers" in weights


@pytest.mark.slow
def test_stdin_gives_one_line_per_line_in_order(translator_dir):
    _, out, _ = translator_dir
    lines = ["Go.", "", "I am hungry.", "Who are you?", "", "Thank you."]
    result = subprocess.run([sys.executable, "-m", "dlkit", "translate", "-", "--model", str(out)],
                            input="\n".join(lines) + "\n", capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    translated = result.stdout.split("\n")[:-1]
    assert len(translated) == len(lines)
    assert [t == "" for t in translated] == [line == "" for line in lines]
    assert translated[0] and all("▁" not in t for t in translated)  # detokenized subwords


@pytest.mark.slow
def test_beam_search_scores_at_least_as_high_as_greedy(translator_dir):
    from dlkit.tasks import translator as task

    _, out, _ = translator_dir
    translator = task.load(str(out))
    sentences = ["I am hungry.", "Who are you?", "I like cats.", "We are late.", "Come here."]
    greedy = translator.translate(sentences, beam_size=1)
    beam = translator.translate(sentences, beam_size=4)
    assert all(b.score >= g.score - 1e-4 for b, g in zip(beam, greedy))
    assert any(g.text for g in greedy)


@pytest.mark.slow
def test_json_scores_attention_map_and_evaluation(translator_dir, cli_run, tmp_path):
    data, out, _ = translator_dir
    picture = tmp_path / "attention.png"
    result, records, _ = cli_run(["translate", "--model", out, "--json", "I am hungry.", "--attention-map", picture])
    assert result.exit_code == 0 and records[0]["input"] == "I am hungry." and records[0]["score"] <= 0
    assert picture.stat().st_size > 1000 and records[0]["attention_map"] == str(picture)

    result, records, stderr = cli_run(["evaluate-translator", data, "--model", out, "--json", "--beam-size", "2"])
    assert result.exit_code == 0, stderr
    scores = records[-1]
    assert scores["split"] == "test" and scores["sentences"] > 50
    assert 0 <= scores["bleu"] <= 100 and scores["bleu_signature"].startswith("nrefs:")
    assert "chrf" in scores


def test_learning_rate_halves_when_bleu_stalls():
    from dlkit.core.runtime import keras
    from dlkit.core.training import halve_on_plateau

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.01), "mse")
    schedule = halve_on_plateau("val_bleu", patience=1, min_delta=0.1)
    schedule.set_model(model)
    schedule.on_train_begin()
    rates = []
    for epoch, bleu in enumerate([10.0, 12.0, 12.05, 13.0, 11.0]):  # +0.05 is not a gain
        schedule.on_epoch_end(epoch, {"val_bleu": bleu})
        rates.append(round(float(model.optimizer.learning_rate), 6))
    assert rates == [0.01, 0.01, 0.005, 0.005, 0.0025]


@pytest.mark.slow
def test_bad_inputs(cli_run, tmp_path, translator_dir):
    _, out, _ = translator_dir
    (tmp_path / "latin1.tsv").write_bytes("caf\xe9\tcaf\xe9\n".encode("latin-1"))
    cases = [
        (["train-translator", tmp_path / "latin1.tsv", "-o", tmp_path / "m"], "not UTF-8"),
        (["train-translator", tmp_path / "missing.tsv", "-o", tmp_path / "m"], "no such file"),
        (["translate", "--model", tmp_path / "nowhere", "Hello."], "translator not found"),
        (["translate", "--model", out, "a", "b", "--attention-map", tmp_path / "a.png"], "exactly one TEXT"),
        # refused before any work: a file is where the model folder's parent would go
        (["train-translator", translator_dir[0], "-o", translator_dir[0] / "en-fr"], "is not a folder"),
    ]
    for args, message in cases:
        result, _, stderr = cli_run(args)
        assert result.exit_code == 1 and message in stderr and "Traceback" not in stderr, (args, stderr)


@pytest.mark.slow
def test_quantized_copy_is_smaller_and_translates_alike(translator_dir, cli_run, tmp_path):
    from dlkit.tasks import translator as task

    _, out, _ = translator_dir
    small = tmp_path / "int8"
    result, records, stderr = cli_run(["quantize", out, "-o", small, "--json"])
    assert result.exit_code == 0, stderr
    assert {"logits", "source_embedding", "target_embedding"} <= set(records[0]["layers"])
    assert (small / "model.keras").stat().st_size < 0.75 * (out / "model.keras").stat().st_size  # LSTMs stay float32
    # the float model's twin stays behind: the int8 model's own is made on its first use
    assert sorted(p.name for p in small.iterdir()) == sorted(p.name for p in out.iterdir() if p.suffix != ".onnx")

    sentences = ["I am hungry.", "Who are you?", "I like cats.", "We are late.", "Come here.", "Go.", "Help!"]
    full, int8 = task.load(str(out)), task.load(str(small))
    assert (small / "model.encoder.onnx").is_file() and (small / "model.step.onnx").is_file()
    before, after = full.translate(sentences, beam_size=1), int8.translate(sentences, beam_size=1)
    assert sum(b.text == a.text for b, a in zip(before, after)) >= len(sentences) - 1
    assert all(abs(b.score - a.score) < 0.5 for b, a in zip(before, after) if b.text == a.text)

    result, _, stderr = cli_run(["quantize", out, "-o", out])
    assert result.exit_code == 1 and "new path" in stderr
    # a file where the folder's copy would go is refused before any work, and kept
    kept = tmp_path / "notes.txt"
    kept.write_text("mine")
    result, _, stderr = cli_run(["quantize", out, "-o", kept])
    assert result.exit_code == 1 and "must be a folder" in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert kept.read_text() == "mine"


def test_shipped_translator_knows_simple_sentences(cli_run):
    from dlkit.core import modelio

    shipped = modelio.pretrained_path("translator")
    assert str(ROOT / "pretrained") in shipped
    # int8 Keras weights (12 MB) and their ONNX twin, which translation runs (13 MB), the
    # attention projections int8 too (with them float32 the folder was 40 MB)
    assert sum(p.stat().st_size for p in Path(shipped).iterdir()) < 30e6
    expected = {"I am hungry.": "faim", "Where is the station?": "gare", "Thank you very much.": "merci",
                "I love my mother.": "mère", "The cat is sleeping.": "chat"}
    result, records, stderr = cli_run(["translate", "--json", *expected])
    assert result.exit_code == 0, stderr
    translations = {r["input"]: r["translation"].lower() for r in records}
    assert all(word in translations[text] for text, word in expected.items()), translations


@pytest.mark.slow
def test_library_streams_one_record_per_line(translator_dir):
    """The library's face: load() a Predictor, predict() the items iter_texts reads."""
    from dlkit.core.inputs import iter_texts
    from dlkit.tasks import translator as task

    _, out, _ = translator_dir
    stdin = io.BytesIO(b"Go.\n\ncaf\xe9\nThank you.\n")
    records = list(task.load(str(out)).predict(iter_texts(["Help!", "-"], stdin=stdin)))
    assert [r["input"] for r in records] == ["Help!", "Go.", "", "caf\\xe9", "Thank you."]
    assert "not UTF-8" in records[3]["error"] and records[2]["translation"] == ""
    assert all("translation" in r and r["score"] <= 0 for i, r in enumerate(records) if i not in (2, 3))


@pytest.mark.slow
def test_damaged_model_folders_are_refused_with_one_line(translator_dir, cli_run, tmp_path):
    from dlkit.tasks.translator.data import Subwords

    data, out, _ = translator_dir
    zero = tmp_path / "zero-batch"
    shutil.copytree(out, zero)
    saved = json.loads((zero / "config.json").read_text())
    saved["config"]["batch_size"] = 0
    (zero / "config.json").write_text(json.dumps(saved))
    other = tmp_path / "other-subwords"  # a target vocabulary that is not the model's
    shutil.copytree(out, other)
    lines = data.read_text(encoding="utf-8").splitlines()[:500]
    Subwords.train([line.split("\t")[0] for line in lines], 100).write(str(other / "target.spm"))
    for folder, message in [(zero, "config.json: batch_size must be at least 1, not 0"),
                            (other, "target.spm: 100 entries, but the model's target_embedding layer has")]:
        result, _, stderr = cli_run(["translate", "--model", folder, "Hello."])
        assert result.exit_code == 1 and message in stderr and "Traceback" not in stderr, stderr
        assert len(stderr.strip().splitlines()) == 1


def test_held_out_test_split_is_the_one_the_shipped_translator_was_scored_on(data):
    """Hash-based: the shipped model's metrics name 4,838 held-out English sentences."""
    from dlkit.tasks.translator.data import read_pairs, references, split_pairs

    test = split_pairs(read_pairs(str(need(data / "anki" / "fra.txt"))), 0.05, 0.05)[2]
    assert len(references(test)[0]) == 4838


@pytest.mark.slow
@pytest.mark.parametrize("beam", [1, 4])
def test_training_wrote_a_twin_that_translates_as_keras_does(translator_dir, beam):
    """train-translator leaves its ONNX twin beside the model, checked; on this float32
    model both runtimes agree within 1e-4 (the shipped int8 one: test_translator_twin.py)."""
    from conftest import text_lines

    from dlkit.core import twins
    from dlkit.tasks.translator import predict

    _, out, _ = translator_dir
    graphs = twins.load(str(out / "model.keras"), ("encoder", "step"))  # current: no converter needed
    assert graphs["encoder"].metadata["max_difference"] <= graphs["encoder"].metadata["tolerance"]
    sentences = list(dict.fromkeys(line.split("\t")[0] for line in text_lines(DATA / "anki" / "fra.txt", 300, 4000)))
    light = predict.load(str(out)).translate(sentences, beam)
    keras = predict.load(str(out), runtime="keras").translate(sentences, beam)
    assert [t.text for t in light] == [t.text for t in keras] and len({t.text for t in light}) > 10
    assert max(abs(a.score - b.score) for a, b in zip(light, keras)) <= 1e-4 + 1e-9  # rounded to 4 decimals


# ---- The Transformer, and honest answers on hard input ---------------------------------------

@pytest.fixture(scope="module")
def transformer_dir(tmp_path_factory):
    """A tiny Transformer translator trained through the CLI on 3,000 short pairs."""
    from click.testing import CliRunner

    from dlkit.cli import cli

    tmp = tmp_path_factory.mktemp("transformer")
    data = lines_slice(DATA / "anki" / "fra.txt", tmp / "pairs.tsv", 3000)
    out = tmp / "en-fr"
    result = CliRunner().invoke(cli, ["train-translator", str(data), "-o", str(out), "--arch", "transformer",
                                      "--vocab-size", "400", "--embedding-dim", "32", "--heads", "2",
                                      "--feed-forward", "64", "--encoder-layers", "2", "--decoder-layers", "2",
                                      "--epochs", "2", "--warmup-steps", "20", "--bleu-sentences", "20",
                                      "--seed", "1", "--json"])
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_transformer_trains_saves_reloads_and_translates_without_tensorflow(transformer_dir, light_run):
    out, summary = transformer_dir
    assert summary["arch"] == "transformer" and summary["epochs"] == 2
    assert summary["averaged"]["epochs"] == 2 and "kept" in summary["averaged"]  # checkpoint averaging ran
    assert (out / "source.spm").read_bytes() == (out / "target.spm").read_bytes()  # one shared vocabulary
    sentences = ["I am hungry.", "Who are you? I am Tom.", "Come here.", ""]
    code, records, stderr = light_run(["translate", "--model", out, "--json", *sentences])
    assert code == 0 and "Traceback" not in stderr, stderr
    assert [r["input"] for r in records] == sentences and records[3]["translation"] == ""
    assert all(r["confidence"] <= 0 and "score" in r for r in records)


@pytest.mark.slow
@pytest.mark.parametrize("beam", [1, 3])
def test_the_transformer_twin_decodes_as_keras_does(transformer_dir, beam):
    """The step graph keeps each decoder layer's keys and values, growing a position a
    step; Keras' graphs and the ONNX twin write the same subwords."""
    from conftest import text_lines

    from dlkit.tasks.translator import predict

    out, _ = transformer_dir
    sentences = list(dict.fromkeys(line.split("\t")[0] for line in text_lines(DATA / "anki" / "fra.txt", 60, 3000)))
    light = predict.load(str(out)).translate(sentences, beam)
    keras = predict.load(str(out), runtime="keras").translate(sentences, beam)
    assert [t.text for t in light] == [t.text for t in keras]
    assert max(abs(a.score - b.score) for a, b in zip(light, keras)) <= 1e-3


@pytest.mark.slow
def test_a_quantized_transformer_keeps_its_attention_int8_in_keras_and_in_its_twin(transformer_dir, cli_run,
                                                                                   tmp_path):
    """dlkit quantize stores MultiHeadAttention's projections as int8 too: still int8 once
    loaded again in safe mode (the layer re-creates them on loading), and in the ONNX twin
    made from it, where no float32 weight is left (this model's smallest, an attention
    projection's kernel, holds 1,024 values)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, numpy_helper

    from dlkit import tasks
    from dlkit.core import modelio, twins
    from dlkit.core.runtime import keras
    from dlkit.tasks.translator import predict

    out, _ = transformer_dir
    small = tmp_path / "int8"
    result, records, stderr = cli_run(["quantize", out, "-o", small, "--json"])
    assert result.exit_code == 0, stderr
    assert {"encoder_1_attention", "decoder_1_self_attention", "decoder_1_cross_attention"} <= set(records[0]["layers"])

    tasks.import_layers()
    model = modelio.load_model(str(small / "model.keras"))
    projections = [p for layer in model.layers if isinstance(layer, keras.layers.MultiHeadAttention)
                   for p in (layer.query_dense, layer.key_dense, layer.value_dense, layer.output_dense)]
    assert len(projections) == 4 * 6 and all(p.kernel.dtype == "int8" for p in projections)

    graphs = twins.load(str(small / "model.keras"), ("encoder", "step"), convert=predict.CONVERT)
    assert graphs["step"].metadata["max_difference"] <= graphs["step"].metadata["tolerance"]
    for graph in graphs.values():
        weights = [c for c in onnx.load(graph.path).graph.initializer if np.prod(c.dims) >= 1024]
        assert not [c.name for c in weights if c.data_type == TensorProto.FLOAT], graph.path
        assert sum(numpy_helper.to_array(c).dtype == np.int8 for c in weights) >= 6, graph.path


@pytest.mark.slow
def test_training_goes_on_from_a_translator_with_its_network_subwords_and_schedule(transformer_dir, cli_run,
                                                                                   tmp_path):
    """--init-from: the model's weights, subwords and network (an option that would change
    the network is overridden), the learning-rate schedule resumed at the steps it had;
    a folder that is not a translator is refused in one line."""
    out, _ = transformer_dir
    first = json.loads((out / "config.json").read_text())
    data = out.parent / "pairs.tsv"
    more = tmp_path / "more"
    result, records, stderr = cli_run(["train-translator", data, "-o", more, "--init-from", out, "--epochs", "1",
                                       "--embedding-dim", "64", "--warmup-steps", "20", "--bleu-sentences", "20",
                                       "--seed", "2", "--json"])
    assert result.exit_code == 0, stderr
    second = json.loads((more / "config.json").read_text())
    assert second["config"]["embedding_dim"] == 32 and second["init_from"] == str(out)
    assert (more / "source.spm").read_bytes() == (out / "source.spm").read_bytes()
    steps = second["steps"] - first["steps"]
    assert 0 < steps <= first["steps"]  # one epoch of the same pairs after two
    # Started from the trained weights: the first epoch ends below where a fresh model's did.
    assert second["history"]["val_loss"][0] < first["history"]["val_loss"][0]

    result, _, stderr = cli_run(["train-translator", data, "-o", tmp_path / "x", "--init-from", tmp_path])
    assert result.exit_code != 0 and len(stderr.strip().splitlines()) == 1 and "no model.keras" in stderr


@pytest.mark.slow
def test_training_goes_on_from_an_int8_copy_as_from_the_shipped_translator(transformer_dir, cli_run, tmp_path):
    """The shipped translator is an int8 copy: --init-from starts from its weights in
    float32 (each int8 kernel and embedding row divided by its scale, within one int8 step
    of the float model it was made from) and keeps the names it learnt to copy; a folder
    whose config.json describes another network is refused in one line."""
    import numpy as np

    from dlkit import tasks
    from dlkit.core import modelio
    from dlkit.tasks.translator import model as translator_model
    from dlkit.tasks.translator.config import Config

    out, _ = transformer_dir
    small = tmp_path / "int8"
    assert cli_run(["quantize", out, "-o", small, "--json"])[0].exit_code == 0
    tasks.import_layers()
    original = modelio.load_model(str(out / "model.keras"))
    config = json.loads((out / "config.json").read_text())
    settings, _ = modelio.read_folder(str(out), "translator", "train-translator", Config)
    rebuilt = translator_model.build_model(settings, original.get_layer("source_embedding").input_dim,
                                           original.get_layer("target_embedding").input_dim)
    modelio.copy_weights(modelio.load_model(str(small / "model.keras")), rebuilt, "int8")
    for before, after in zip(original.get_weights(), rebuilt.get_weights(), strict=True):
        assert after.dtype == np.float32 and np.abs(after - before).max() <= np.abs(before).max() / 127 + 1e-7

    (small / "config.json").write_text(json.dumps({**config, "name_placeholders": ["Paris"]}))
    more = tmp_path / "more"
    result, _, stderr = cli_run(["train-translator", out.parent / "pairs.tsv", "-o", more, "--init-from", small,
                                 "--epochs", "1", "--max-pairs", "200", "--bleu-sentences", "20", "--json"])
    assert result.exit_code == 0, stderr
    assert json.loads((more / "config.json").read_text())["name_placeholders"] == ["Paris"]

    config["config"]["feed_forward"] *= 2
    (small / "config.json").write_text(json.dumps(config))
    result, _, stderr = cli_run(["train-translator", out.parent / "pairs.tsv", "-o", tmp_path / "x", "--init-from",
                                 small, "--epochs", "1"])
    assert result.exit_code != 0 and "Traceback" not in stderr
    assert "do not fit the network its config.json describes" in stderr.strip().splitlines()[-1]

    (tmp_path / "none.tsv").write_text("")
    result, _, stderr = cli_run(["train-translator", tmp_path / "none.tsv", "-o", tmp_path / "y", "--init-from",
                                 "shipped"])  # the shipped translator: found, then the data is refused
    assert result.exit_code != 0 and "starting from " in stderr and "translator-en-fr: its transformer" in stderr


def test_a_resumed_schedule_warms_up_again_to_where_the_first_run_left_off():
    from dlkit.tasks.translator.layers import WarmUp

    fresh, resumed = WarmUp(1e-3, 100), WarmUp(1e-3, 100, done=900)
    assert float(resumed(0)) < float(fresh(899)) / 20  # Adam's moments start afresh: ramp up again
    assert float(resumed(500)) == pytest.approx(float(fresh(1400)))  # then the first run's decay, resumed


def test_long_inputs_are_translated_sentence_by_sentence_one_line_each(light_run):
    """The shipped model learnt from single short sentences: a line of several sentences
    is translated one sentence at a time and joined, still one output line per input
    line; a sentence too long for the model is translated by clauses, with a warning."""
    long = ("My brother, who lives in Paris with his wife and their three children, works as a doctor in a "
            "large hospital near the river, and he says that the work is hard but interesting.")
    lines = ["Where is the station? I am hungry. Thank you very much.", "", long, "I love my mother."]
    code, records, stderr = light_run(["translate", "--json", "-"], "\n".join(lines) + "\n")
    assert code == 0, stderr
    assert [r["input"] for r in records] == lines
    first = records[0]["translation"].lower()
    assert first.index("gare") < first.index("faim") < first.index("merci")  # in order
    assert "warning" in records[2] and "translated in parts" in records[2]["warning"]
    assert "hôpital" in records[2]["translation"] and "difficile" in records[2]["translation"]  # no part lost
    assert all(-10 < r["confidence"] < 0 for i, r in enumerate(records) if i != 1)

    plain = subprocess.run([sys.executable, "-m", "dlkit", "translate", "-"], capture_output=True, text=True,
                           input="\n".join(lines) + "\n日本語の文章です。\n")
    assert plain.returncode == 0 and len(plain.stdout.split("\n")[:-1]) == len(lines) + 1
    assert "unknown to the model" in plain.stderr and "translated in parts" in plain.stderr


def test_parts_of_a_sentence_are_cut_between_words_and_joined_as_one_sentence(light_run):
    """A sentence translated in parts: windows of a long clause end between words, and
    each part, translated as if it were a whole sentence, loses the full stop and capital
    that the model gave it where the source goes on (newstest2014: BLEU 9.11 -> 10.39)."""
    from dlkit.tasks.translator.predict import Translation, _seamed, load
    from dlkit.tasks.translator.subwords import WORD_START

    translator = load()
    ids = translator.src.encode(['"It is not a matter of something we might choose to do," said Hasan Ikhrata '
                                 'of the Southern California Association of Governments'])[0]
    windows = translator._windows(ids, 19)
    assert [w for window in windows for w in window] == ids and len(windows) == 2
    assert all(len(w) <= 19 for w in windows) and abs(len(windows[0]) - len(windows[1])) <= 4  # not 19 + 8
    assert all(translator.src.pieces(w)[0].startswith(WORD_START) for w in windows)  # never inside a word

    def part(text, source):
        return Translation(text, -1.0, [], [], source=source)

    first, second = _seamed(part("Il a déclaré.", 'he said,'), part("Le directeur est là.", "the director is there."))
    assert (first.text, second.text) == ("Il a déclaré,", "le directeur est là.")
    first, second = _seamed(part("Il a déclaré !", "he said"), part("Paris est là.", "Paris is there."))
    assert (first.text, second.text) == ("Il a déclaré", "Paris est là.")  # a name keeps its capital
    first, _ = _seamed(part("Il pleut.", "It rains."), part("Il neige.", "It snows."))
    assert first.text == "Il pleut."  # a part that ends its source sentence keeps its stop
    first, second = _seamed(part('« Il pleut. »', 'he said: "It rains."'), part("GPS est là.", "the GPS is there."))
    assert (first.text, second.text) == ('« Il pleut. »', "GPS est là.")  # a quoted sentence ends; GPS is no word

    line = "Thousands of motorists have already taken the black boxes, some of which have GPS monitoring, for a test drive."
    code, records, stderr = light_run(["translate", "--json", "-"], line + "\n")
    assert code == 0 and "translated in parts" in records[0]["warning"], stderr
    translation = records[0]["translation"]
    assert translation.endswith(".") and not re.search(r"[.!?] \w", translation), translation  # was "noirs. En ..."


def test_the_length_penalty_is_the_one_the_folder_records(tmp_path):
    """A translator decodes with its config.json's length_alpha (the shipped one: 1.0,
    chosen on both validations), not with the value its twin was exported with (0.6)."""
    from dlkit.core import modelio
    from dlkit.tasks.translator.predict import load

    shipped = load()
    assert shipped.decoding["length_alpha"] == 1.0
    folder = tmp_path / "short"
    shutil.copytree(modelio.pretrained_path("translator"), folder)
    config = json.loads((folder / "config.json").read_text())
    config["config"]["length_alpha"] = 0.0
    (folder / "config.json").write_text(json.dumps(config))
    plain = load(str(folder))
    assert plain.decoding["length_alpha"] == 0.0
    sentence = ["The devices track every mile a motorist drives and transmit that information to bureaucrats."]
    assert plain.translate(sentence)[0].score != shipped.translate(sentence)[0].score


def test_numbers_come_through_the_translation_written_the_french_way(light_run, tmp_path):
    """A number the subwords cut into pieces is translated as a one-subword placeholder
    and put back, written as French does (the shipped model wrote "12,500" as "1200" and
    "3.7" as "37"); one the translation lost is named in a warning."""
    from dlkit.core import modelio
    from dlkit.tasks.translator.placeholders import Carried, masked, restored, written
    from dlkit.tasks.translator.predict import Translation, load

    assert [written(n, "fr") for n in ("12,500", "3.7", "1,218.25", "1998", "1.2.3")] == \
        ["12 500", "3,7", "1 218,25", "1998", "1.2.3"]
    assert written("12,500.5", "de") == "12.500,5" and written("12,500.5", "as-written") == "12,500.5"

    translator = load()
    assert translator.numbers[:3] == ["100", "200", "500"]  # three digits first, no years
    text, table = masked("In 2012, 100 of 12,500 cars (3.7%) had a G20 sticker.", translator.src,
                         translator.numbers, [], set(), "fr")
    # 100 and 2012 are one subword each and stay; 500 is in the text ("12,500"), so not a placeholder
    assert text == "In 2012, 100 of 200 cars (300%) had a G20 sticker."
    assert table == {"200": Carried("12,500", "12 500", "number"), "300": Carried("3.7", "3,7", "number")}
    back = restored(Translation("En 2012, 100 de 200 voitures.", -1.0, ["\u2581200"], ["\u2581200"]), table)
    assert back.text == "En 2012, 100 de 12 500 voitures." and back.tokens == ["\u258112 500"]
    assert back.source_tokens == ["\u258112,500"]
    assert back.warnings == ["the number 3.7 is missing from the translation"]

    lines = ["The company sold 12,500 cars in 1998.", "Prices rose by 3.7 percent in March."]
    code, records, stderr = light_run(["translate", "--json", "-"], "\n".join(lines) + "\n")
    assert code == 0, stderr
    assert "12 500" in records[0]["translation"] and "1998" in records[0]["translation"], records[0]
    assert "3,7" in records[1]["translation"], records[1]

    folder = tmp_path / "as-written"  # a model whose target writes numbers as the source does
    shutil.copytree(modelio.pretrained_path("translator"), folder)
    config = json.loads((folder / "config.json").read_text())
    del config["config"]["number_format"]  # as folders written before it: the default
    (folder / "config.json").write_text(json.dumps(config))
    assert "3.7" in load(str(folder)).translate(lines[1:])[0].text


def test_names_the_model_would_garble_are_carried_over(light_run, tmp_path):
    """A capitalised span that the model, translating it alone, copies or is unsure of is
    translated as a name it copies (Tom, ...) and put back: "Angela Merkel met ..." was
    "La série a rencontré ...". A word it translates surely ("Tuesday") is translated."""
    from dlkit.core import modelio
    from dlkit.tasks.translator.placeholders import Carried, masked, name_placeholders, name_spans
    from dlkit.tasks.translator.predict import load

    pairs = [l.split("\t")[:2] for l in (DATA / "anki" / "fra.txt").read_text(encoding="utf-8").splitlines()[-30000:]]
    assert name_placeholders([p[0] for p in pairs], [p[1] for p in pairs])[:1] == ["Tom"]  # not Mary: "Marie"

    translator = load()
    assert translator.names[:2] == ["Tom", "Boston"]
    assert name_spans("The United States and Angela Merkel. Then Jose Barroso said. Paris is far.", translator.src) \
        == ["United States", "Angela Merkel", "Jose Barroso"]  # a sentence's first word may be any word
    text, table = masked("Angela Merkel met Merkel, Tom and 12,500 people.", translator.src, translator.numbers,
                         translator.names, {"Angela Merkel", "Merkel", "Tom"}, "fr")
    assert text == "Boston met York, Tom and 100 people."  # Tom is in the text: no placeholder, and kept
    assert table["Boston"] == Carried("Angela Merkel", "Angela Merkel", "name")

    lines = ["Angela Merkel met Barack Obama in Berlin on Tuesday.",
             "Jonathan Florez said the plan would cost 45 million dollars."]
    code, records, stderr = light_run(["translate", "--json", "-"], "\n".join(lines) + "\n")
    assert code == 0, stderr
    assert records[0]["translation"].startswith("Angela Merkel ") and "mardi" in records[0]["translation"], records
    assert "Jonathan Florez" in records[1]["translation"], records[1]

    folder = tmp_path / "crafted"
    shutil.copytree(modelio.pretrained_path("translator"), folder)
    config = json.loads((folder / "config.json").read_text())
    config["name_placeholders"] = ["Tom", ".*"]
    (folder / "config.json").write_text(json.dumps(config))
    code, _, stderr = light_run(["translate", "--json", "--model", str(folder), "-"], "Hello Tom.\n")
    assert code != 0 and "name_placeholders must be a list of at most 8 capitalised words" in stderr
    assert "Traceback" not in stderr


def test_plain_translate_raises_no_deprecation_and_documents_quiet():
    """Plain output goes through Click's text stream: no deprecation warning on the way
    (Python turns one into an error here); -q says what it does in --help."""
    plain = subprocess.run([sys.executable, "-W", "error::DeprecationWarning", "-m", "dlkit", "translate", "-"],
                           input="I am hungry.\n", capture_output=True, text=True)
    assert plain.returncode == 0 and plain.stdout == "J'ai faim.\n", plain.stderr
    assert "Warning" not in plain.stderr
    help_text = subprocess.run([sys.executable, "-m", "dlkit", "translate", "--help"], capture_output=True, text=True)
    assert "-q, --quiet No progress bars or messages on stderr." in " ".join(help_text.stdout.split())
