"""Shared scores: of a classifier's labels (classification: accuracy, F1, confusion
matrix), and of generated text against human references (corpus BLEU and chrF).

An item may have any number of references (Flickr8k has five captions per photo,
Tatoeba several translations of some sentences); all of them count. scikit-learn,
sacreBLEU and matplotlib are imported on first use, and nothing here imports TensorFlow.
"""

from typing import NamedTuple, Sequence

# Decimal places of every score a classification evaluation reports.
DIGITS = 6


def classification(truth: Sequence, predicted: Sequence, labels: Sequence, plot: str | None = None,
                   title: str = "", keep_absent: bool = True) -> dict:
    """The evaluation of a single-label classifier, from each example's true and predicted
    label (values of `labels`, the label names in the model's order):

        {"examples": int, "accuracy": float, "macro_f1": float,
         "per_class": {label: {"precision", "recall", "f1", "support"}},
         "confusion_matrix": [[int]] (rows: true label, columns: predicted, in "labels" order),
         "labels": [str]}

    and "confusion_plot": `plot`, when given: the matrix drawn there (a PNG, written
    atomically). Scores are rounded to DIGITS places. A label met in the data but not in
    `labels` is appended (sorted), so the matrix always adds up to "examples";
    `keep_absent=False` leaves out the labels of `labels` that are neither a true nor a
    predicted label here (an ImageNet classifier's 1,000 on a few class folders).
    macro_f1 is the mean F1 of the labels that occur (as true or predicted label): a
    label absent from the data has nothing to score.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    truth, predicted = [str(t) for t in truth], [str(p) for p in predicted]
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} true labels but {len(predicted)} predictions")
    names = list(dict.fromkeys(str(label) for label in labels))
    occurring = set(truth) | set(predicted)
    names += sorted(occurring - set(names))
    if not keep_absent:
        names = [name for name in names if name in occurring]
    record = {"examples": len(truth), "accuracy": 0.0, "macro_f1": 0.0,
              "per_class": {name: {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0} for name in names},
              "confusion_matrix": [[0] * len(names) for _ in names], "labels": names}
    if truth:
        precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=names,
                                                                         zero_division=0)
        record["accuracy"] = _round(sum(t == p for t, p in zip(truth, predicted)) / len(truth))
        record["per_class"] = {name: {"precision": _round(p), "recall": _round(r), "f1": _round(f),
                                      "support": int(s)}
                               for name, p, r, f, s in zip(names, precision, recall, f1, support)}
        record["confusion_matrix"] = confusion_matrix(truth, predicted, labels=names).tolist()
        record["macro_f1"] = macro(record, "f1")
    if plot and names:
        import numpy as np

        from dlkit.core import plots

        plots.confusion_matrix(np.array(record["confusion_matrix"]), names, plot, title)
        record["confusion_plot"] = plot
    return record


def macro(record: dict, score: str) -> float:
    """The mean of a per-class score ("precision", "recall" or "f1") of a classification
    record over its labels that occur (as true or predicted label), as its macro_f1;
    computed from the confusion matrix, unrounded."""
    matrix = record["confusion_matrix"]
    values = []
    for i in range(len(matrix)):
        true, predicted = sum(matrix[i]), sum(row[i] for row in matrix)
        if true or predicted:
            denominator = {"precision": predicted, "recall": true, "f1": (true + predicted) / 2}[score]
            values.append(matrix[i][i] / denominator if denominator else 0.0)
    return _round(sum(values) / len(values)) if values else 0.0


def _round(value) -> float:
    return round(float(value), DIGITS)


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
