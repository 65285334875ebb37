"""`dlkit word2vec` on real text: gensim's Lee corpus and the 50k GloVe vectors in ../shared."""

import pytest

from dlkit.text.vectors import embeddings_format, load_embeddings


@pytest.fixture(scope="module")
def lee_corpus():
    from gensim.test.utils import datapath

    return datapath("lee_background.cor")


@pytest.fixture(scope="module")
def lee_vectors(lee_corpus, tmp_path_factory):
    """Vectors trained once through the CLI (one worker and a seed: reproducible)."""
    from click.testing import CliRunner

    from dlkit.cli import cli

    path = tmp_path_factory.mktemp("w2v") / "lee.kv"
    result = CliRunner().invoke(cli, ["word2vec", "train", lee_corpus, "-o", str(path), "--epochs", "20",
                                      "--min-count", "2", "--workers", "1", "--seed", "1", "--json"])
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def glove(data):
    return data / "glove" / "glove.6B.50d.50k.bin"


def test_train_writes_safe_word2vec_binary(lee_vectors):
    assert embeddings_format(str(lee_vectors)) == "word2vec-binary"  # not a pickle, whatever the .kv says
    vectors = load_embeddings(str(lee_vectors))
    assert vectors.vector_size == 100 and len(vectors.key_to_index) > 3000
    # tokenized like the rest of dlkit: lower case, "n't" split off
    assert "the" in vectors.key_to_index and "The" not in vectors.key_to_index
    assert "n't" in vectors.key_to_index


def test_similar_words_on_the_lee_corpus(cli_run, lee_vectors):
    result, records, stderr = cli_run(["word2vec", "similar", lee_vectors, "palestinian", "nosuchword", "Bush",
                                       "--top", "10"])
    assert result.exit_code == 1  # one unknown word: reported, the others answered
    palestinian, unknown, bush = records
    assert {"israeli", "israel"} & {e["word"] for e in palestinian["top"]}
    assert len(palestinian["top"]) == 10
    scores = [e["score"] for e in palestinian["top"]]
    assert scores == sorted(scores, reverse=True)
    assert "not in the vocabulary" in unknown["error"] and "nosuchword" in unknown["error"]
    assert "president" in {e["word"] for e in bush["top"]}  # looked up lower-cased
    assert "Traceback" not in stderr


def test_analogy_king_man_woman_gives_queen(cli_run, glove):
    result, records, _ = cli_run(["word2vec", "analogy", glove, "king", "-", "man", "+", "woman", "--top", "3"])
    assert result.exit_code == 0 and records[0]["word"] == "queen"
    assert records[0]["input"] == "king - man + woman"
    result, records, _ = cli_run(["word2vec", "analogy", glove, "--positive", "king", "--positive", "woman",
                                  "--negative", "man"])
    assert records[0]["word"] == "queen" and len(records[0]["top"]) == 10
    result, _, stderr = cli_run(["word2vec", "analogy", glove, "king - qwxzv + woman"])
    assert result.exit_code == 1 and "qwxzv" in stderr and "Traceback" not in stderr


def test_evaluate_analogy_accuracy(cli_run, glove, lee_vectors, tmp_path):
    from dlkit.tasks.word2vec.model import default_questions

    lines = open(default_questions(), encoding="utf-8").read().splitlines()
    capitals = tmp_path / "capitals.txt"  # the first section: capital-common-countries
    capitals.write_text("\n".join(lines[:507]) + "\n")
    result, records, _ = cli_run(["word2vec", "evaluate", glove, capitals])
    assert result.exit_code == 0
    metrics = records[-1]
    assert metrics["total"] == 506 and metrics["skipped"] == 0 and metrics["accuracy"] > 0.6
    assert records[0]["input"] == "capital-common-countries"

    # the whole of gensim's file by default; words the small corpus lacks are skipped and counted
    result, records, _ = cli_run(["word2vec", "evaluate", lee_vectors])
    metrics = records[-1]
    assert metrics["total"] + metrics["skipped"] == 19544 and metrics["skipped"] > 10000
    assert 0 <= metrics["accuracy"] < 0.5


def test_export_and_every_format_reads_back(cli_run, lee_vectors, tmp_path):
    result, records, _ = cli_run(["word2vec", "export", lee_vectors, tmp_path / "v.txt"])
    assert result.exit_code == 0 and records[0]["format"] == "word2vec-text"
    assert embeddings_format(str(tmp_path / "v.txt")) == "word2vec-text"
    lines = (tmp_path / "v.txt").read_text().splitlines()
    (tmp_path / "glove.txt").write_text("\n".join(lines[1:]) + "\n")  # GloVe text has no header
    original = load_embeddings(str(lee_vectors))
    for name in ["v.txt", "glove.txt"]:
        _, records, _ = cli_run(["word2vec", "similar", tmp_path / name, "palestinian", "--top", "3"])
        assert records[0]["word"] == original.most_similar("palestinian", topn=1)[0][0]

    original.save(str(tmp_path / "native.kv"))  # gensim's pickle: refused unless allowed
    result, _, stderr = cli_run(["word2vec", "export", tmp_path / "native.kv", tmp_path / "out.bin"])
    assert result.exit_code == 1 and "--allow-pickle" in stderr
    result, records, _ = cli_run(["word2vec", "export", tmp_path / "native.kv", tmp_path / "out.bin",
                                  "--allow-pickle"])
    assert result.exit_code == 0 and embeddings_format(str(tmp_path / "out.bin")) == "word2vec-binary"
    assert records[0]["words"] == len(original.key_to_index)


def test_bad_corpus_is_one_clear_line(cli_run, tmp_path):
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    result, _, stderr = cli_run(["word2vec", "train", tmp_path / "latin1.txt", "-o", tmp_path / "v.bin"])
    assert result.exit_code == 1 and "not UTF-8" in stderr and "latin1.txt" in stderr
    (tmp_path / "few.txt").write_text("one two three\n")
    result, _, stderr = cli_run(["word2vec", "train", tmp_path / "few.txt", "-o", tmp_path / "v.bin"])
    assert result.exit_code == 1 and "--min-count" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "v.bin").exists()


def test_library_trains_loads_and_streams_queries(lee_corpus, tmp_path):
    from dlkit.tasks import word2vec

    run = word2vec.train([lee_corpus], str(tmp_path / "v.bin"), word2vec.Config(epochs=2, min_count=2, workers=1))
    assert run.model == str(tmp_path / "v.bin") and run.summary["words"] > 3000 and run.summary["epochs"] == 2
    vectors = word2vec.load(run.model, top=3)
    palestinian, unknown = vectors.predict(["palestinian", "nosuchword"])
    assert palestinian["input"] == "palestinian" and len(palestinian["top"]) == 3
    assert palestinian["word"] == palestinian["top"][0]["word"]
    assert unknown == {"input": "nosuchword", "error": "not in the vocabulary (%d words): nosuchword"
                       % run.summary["words"]}
    with pytest.raises(Exception, match="the vectors file must be a file"):
        word2vec.train([lee_corpus], str(tmp_path))  # refused before any training


def test_word2vec_commands_never_import_tensorflow(lee_vectors):
    """`dlkit word2vec` is gensim only: no TensorFlow start-up (seconds) for a query."""
    import subprocess
    import sys

    from conftest import ROOT

    code = ("import sys; from click.testing import CliRunner; from dlkit.cli import cli; "
            "help = CliRunner().invoke(cli, ['word2vec', '--help']); "
            f"similar = CliRunner().invoke(cli, ['word2vec', 'similar', {str(lee_vectors)!r}, 'the', '--json']); "
            "print(help.exit_code, similar.exit_code, '\"word\"' in similar.stdout, 'tensorflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.stdout.split() == ["0", "0", "True", "False"], done.stderr
