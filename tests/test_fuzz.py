"""Arbitrary bytes on stdin: every line in gives exactly one record out, in order, and
nothing raises. Runs the stdin reader and the shipped text models (loaded once) the way
the CLI does, with bounded examples so CI stays fast."""

import io

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

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

    return {"sentiment": sentiment.load(), "geolocate": geolocator.load(), "translate": translator.load()}


@pytest.mark.slow
@pytest.mark.parametrize("task", ["sentiment", "geolocate", "translate"])
def test_every_line_of_arbitrary_bytes_gives_one_record_in_order(predictors, task):
    predictor = predictors[task]
    if task == "translate":
        predictor.beam_size = 1  # greedy: the property is about records, not quality

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
