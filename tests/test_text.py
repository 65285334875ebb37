"""The shared tokenizer, vocabulary, padding and word-vector loading."""

import pytest

from dlkit.core.errors import DlkitError
from dlkit.text.tokens import Vocabulary, pad, tokenize
from dlkit.text.vectors import embedding_matrix, embeddings_format, load_embeddings


def test_tokenize_splits_like_glove():
    assert tokenize("Don't panic! It's 9-to-5.") == ["do", "n't", "panic", "!", "it", "'s", "9-to-5", "."]
    assert tokenize("it 's a charming film") == ["it", "'s", "a", "charming", "film"]


def test_vocabulary_round_trip(tmp_path):
    vocab = Vocabulary.build([["a", "b", "a"], ["c", "a", "b"]], min_count=2)
    assert vocab.tokens == ["<pad>", "<unk>", "a", "b"]
    assert vocab.encode(["a", "zzz", "b"], length=5).tolist() == [2, 1, 3, 0, 0]
    vocab.save(str(tmp_path / "v.json"))
    assert Vocabulary.load(str(tmp_path / "v.json")).tokens == vocab.tokens


def test_every_embeddings_format_loads(data, tmp_path):
    glove_bin = str(data / "glove" / "glove.6B.50d.50k.bin")
    assert embeddings_format(glove_bin) == "word2vec-binary"
    vectors = load_embeddings(glove_bin)
    assert vectors.vector_size == 50 and "king" in vectors.key_to_index

    small = vectors.vectors_for_all(["king", "queen", "man", "woman"])
    small.save_word2vec_format(str(tmp_path / "w2v.txt"), binary=False)
    lines = (tmp_path / "w2v.txt").read_text().splitlines()
    (tmp_path / "glove.txt").write_text("\n".join(lines[1:]) + "\n")  # GloVe: no header
    small.save(str(tmp_path / "native.kv"))
    for name, kind in [("w2v.txt", "word2vec-text"), ("glove.txt", "glove-text"), ("native.kv", "gensim")]:
        assert embeddings_format(str(tmp_path / name)) == kind
    assert load_embeddings(str(tmp_path / "glove.txt")).most_similar("king", topn=1)
    with pytest.raises(DlkitError, match="pickle"):
        load_embeddings(str(tmp_path / "native.kv"))
    assert load_embeddings(str(tmp_path / "native.kv"), allow_pickle=True).vector_size == 50

    matrix, coverage = embedding_matrix(Vocabulary(["king", "notaword"]), small)
    assert matrix.shape == (4, 50) and coverage == 0.5 and not matrix[0].any()
    (tmp_path / "bad.txt").write_text("hello world\n")
    with pytest.raises(DlkitError, match="not a word-vector file"):
        load_embeddings(str(tmp_path / "bad.txt"))


def test_vocabulary_files_are_checked_on_load(tmp_path):
    (tmp_path / "list.json").write_text('["a", "b"]')
    with pytest.raises(DlkitError, match='list.json: expected a JSON object with a "tokens" list, not a list'):
        Vocabulary.load(str(tmp_path / "list.json"))
    (tmp_path / "ids.json").write_text('{"tokens": ["a", 2]}')
    with pytest.raises(DlkitError, match='ids.json: "tokens" must be a list of strings'):
        Vocabulary.load(str(tmp_path / "ids.json"))
    with pytest.raises(DlkitError, match="vocabulary not found"):
        Vocabulary.load(str(tmp_path / "none.json"))


def test_pad_to_the_longest_row_or_to_a_length():
    assert pad([[1, 2, 3], [4]]).tolist() == [[1, 2, 3], [4, 0, 0]]
    assert pad([[1, 2, 3], [4]], length=2).tolist() == [[1, 2], [4, 0]]
    assert pad([[]]).shape == (1, 1) and pad([[]]).dtype == "int32"


def test_sentences_are_split_at_their_ends_not_after_abbreviations():
    from dlkit.text.tokens import split_sentences

    text = ('Where is the station? It is late! Mr. Smith met J. Doe at 5 p.m. on Monday. "Yes," she said. '
            "Prices rose 3.5% in 2020… Then they fell.")
    assert split_sentences(text) == ["Where is the station?", "It is late!",
                                     "Mr. Smith met J. Doe at 5 p.m. on Monday.", '"Yes," she said.',
                                     "Prices rose 3.5% in 2020…", "Then they fell."]
    assert split_sentences("I am hungry.") == ["I am hungry."] and split_sentences("  ") == []
