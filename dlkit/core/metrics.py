"""Scores of generated text against human references: corpus BLEU and chrF (sacreBLEU).

An item may have any number of references (Flickr8k has five captions per photo,
Tatoeba several translations of some sentences); all of them count. sacreBLEU is
imported on first use, and nothing here imports TensorFlow.
"""

from typing import NamedTuple


class Score(NamedTuple):
    score: float  # 0..100, as sacreBLEU reports it
    signature: str  # how it was computed (references, tokenizer, smoothing, version), for papers


def bleu(hypotheses: list[str], references: list[list[str]], max_order: int = 4, lowercase: bool = False) -> Score:
    """Corpus BLEU with n-grams up to `max_order` (BLEU-1..4)."""
    from sacrebleu.metrics import BLEU

    return _corpus(BLEU(max_ngram_order=max_order), hypotheses, references, lowercase)


def chrf(hypotheses: list[str], references: list[list[str]]) -> Score:
    """Corpus chrF: character n-grams, kinder than BLEU to a language's inflections."""
    from sacrebleu.metrics import CHRF

    return _corpus(CHRF(), hypotheses, references)


def _corpus(metric, hypotheses: list[str], references: list[list[str]], lowercase: bool = False) -> Score:
    if lowercase:
        hypotheses = [h.lower() for h in hypotheses]
        references = [[r.lower() for r in refs] for refs in references]
    value = metric.corpus_score(hypotheses, reference_streams(references)).score
    return Score(value, str(metric.get_signature()))


def reference_streams(references: list[list[str]]) -> list[list[str | None]]:
    """sacreBLEU's layout of references: stream i holds the i-th reference of every item,
    None where an item has fewer."""
    width = max(len(refs) for refs in references)
    return [[refs[i] if i < len(refs) else None for refs in references] for i in range(width)]
