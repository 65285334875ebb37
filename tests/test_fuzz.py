"""Arbitrary bytes on stdin, as arguments and as image files: every line, text or file
in gives exactly one record out, in order, and nothing raises. Runs the input readers
and the shipped models (loaded once) the way the CLI does, with bounded examples so CI
stays fast."""

import io
import json
import os
import struct

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from conftest import PHOTOS  # noqa: E402
from dlkit.core.inputs import iter_texts  # noqa: E402

# Lines of arbitrary bytes (newlines excluded: they separate lines), hostile text among
# them: markup, NUL, invalid UTF-8, lone surrogates' encodings, very long words.
HOSTILE = [b"[/b] caf\xe9", b"\x00\x00", b"\xff\xfe\xfd", b"[red]x[/red]", b"\xed\xa0\x80", b"a" * 3000, b"",
           b"   ", "Paris, Texas – 東京 😀".encode()]
LINE = st.one_of(st.binary(max_size=80).map(lambda b: b.replace(b"\n", b" ")), st.sampled_from(HOSTILE))
LINES = st.lists(LINE, min_size=1, max_size=12)


def _records(predictor, lines: list[bytes], final_newline: bool) -> list[dict]:
    data = b"\n".join(lines) + (b"\n" if final_newline else b"")
    return list(predictor.predict(iter_texts(["-"], stdin=io.BytesIO(data))))


def _expected_inputs(lines: list[bytes], final_newline: bool) -> int:
    data = b"\n".join(lines) + (b"\n" if final_newline else b"")
    return len(io.BytesIO(data).readlines())


@pytest.fixture(scope="module")
def predictors():
    from dlkit.tasks import geolocator, sentiment, translator

    # translate greedy: the properties are about records, not quality
    return {"sentiment": sentiment.load(), "geolocate": geolocator.load(), "translate": translator.load(beam_size=1)}


@pytest.mark.slow
@pytest.mark.parametrize("task", ["sentiment", "geolocate", "translate"])
def test_every_line_of_arbitrary_bytes_gives_one_record_in_order(predictors, task):
    predictor = predictors[task]

    @settings(max_examples=12 if task == "translate" else 25, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(lines=LINES, final_newline=st.booleans())
    def check(lines, final_newline):
        records = _records(predictor, lines, final_newline)
        assert len(records) == _expected_inputs(lines, final_newline)
        for line, record in zip(lines, records):
            assert "input" in record and len(record) >= 2  # an answer or an error, never a bare input
            if not line.strip() or b"\xff" in line:
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                assert "not UTF-8" in record["error"]
                continue
            assert record["input"] == text  # in order: each record names its own line

    check()


# Texts as arguments and JSON bring what stdin cannot: bytes that are not UTF-8 (an
# argument's surrogate escapes) and lone UTF-16 surrogates (JSON's "\ud800").
TEXT = st.one_of(st.text(max_size=60), st.binary(max_size=40).map(os.fsdecode),
                 st.sampled_from(["I am \ud800 hungry.", "\udfff", "caf\udce9", "[b]x[/b]", "\x00", "   "])
                 ).filter(lambda text: text != "-")  # "-" is the argument that means stdin


@pytest.mark.slow
@pytest.mark.parametrize("task", ["sentiment", "geolocate", "translate"])
def test_every_text_argument_gives_one_record_and_nothing_raises(predictors, task):
    predictor = predictors[task]

    @settings(max_examples=10 if task == "translate" else 25, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(texts=st.lists(TEXT, min_size=1, max_size=10))
    def check(texts):
        records = list(predictor.predict(iter_texts(texts)))
        assert len(records) == len(texts)
        for text, record in zip(texts, records):
            assert "input" in record and len(record) >= 2
            if any("\ud800" <= c <= "\udfff" for c in text):
                assert "not a text" in record["error"]
            json.dumps(record, ensure_ascii=False).encode("utf-8")  # writable as UTF-8 JSON

    check()


# Seeds that reach deep into decoders: real headers with arbitrary bytes after them.
HEADERS = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM", b"RIFF\x00\x00\x00\x00WEBP",
           b"II*\x00", b"P6\n2 2\n255\n", b"icns", b"\x00\x00\x01\x00"]
# A whole DDS header around an arbitrary pixel format code, which Pillow may not implement.
DDS = st.binary(min_size=4, max_size=4).map(
    lambda code: b"DDS " + struct.pack("<7I", 124, 0x1007, 8, 8, 0, 0, 0) + bytes(44) + struct.pack("<2I", 32, 0x4)
    + code + bytes(40))
IMAGE_BYTES = st.one_of(st.binary(max_size=300), st.tuples(st.one_of(st.sampled_from(HEADERS), DDS),
                                                           st.binary(max_size=300)).map(lambda parts: b"".join(parts)))


@pytest.mark.slow
def test_every_file_of_arbitrary_bytes_gives_one_image_record(tmp_path_factory):
    from dlkit.core.inputs import iter_paths
    from dlkit.tasks import classifier

    predictor = classifier.load()
    good = str(PHOTOS / "chelsea.png")

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(contents=st.lists(IMAGE_BYTES, min_size=1, max_size=6), suffix=st.sampled_from([".png", ".jpg", ".dds", ""]))
    def check(contents, suffix):
        folder = tmp_path_factory.mktemp("bytes")
        paths = []
        for i, data in enumerate(contents):
            paths.append(str(folder / f"{i}{suffix}"))
            with open(paths[-1], "wb") as f:
                f.write(data)
        records = list(predictor.predict(iter_paths([good, *paths])))
        assert [r["input"] for r in records] == [good, *paths]
        assert "label" in records[0]  # a good photo batched with them is still answered
        assert all("label" in r or r["error"] for r in records[1:])

    check()
