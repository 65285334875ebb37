"""Translation: a Transformer (the shipped English -> French model) or a seq2seq LSTM
with attention, over SentencePiece subwords.

    from dlkit.core.inputs import iter_texts
    from dlkit.tasks import translator
    run = translator.train("fra.txt", "en-fr/", translator.Config(epochs=5))
    for record in translator.load("en-fr/").predict(iter_texts(["I am hungry."])):
        print(record["translation"])      # {"input", "translation", "score"}
    translator.evaluate("fra.txt", "en-fr/")   # BLEU and chrF of the held-out test split

Modules: config (settings), subwords (SentencePiece), predict (load, translate, the
attention map: no TensorFlow; the sentence is decoded by the ONNX twin), model
(networks, train, evaluate), twin (its inference graphs on TensorFlow, and writing the
twin from them), data (sentence pairs, datasets). The names below are imported on first
use, so importing the package costs no TensorFlow.
"""

import os

from dlkit.core.task import Argument, Evaluate, Fields, Predict, Task, Train, lazy_exports
from dlkit.tasks.translator.config import AttentionMap, Config, EvaluateConfig, TrainData

MODEL_HELP = "Translator folder [default: the shipped en->fr]."

TASK = Task(
    name="translator",
    summary="Translate sentences.",
    config=Config,
    train=Train(
        command="train-translator",
        summary="Train a translator (seq2seq LSTM with attention, or a Transformer) on sentence pairs.",
        function="dlkit.tasks.translator.model:train",
        data=Argument("data", required=False),
        output="Folder to write the translator to.",
        options=(Fields(TrainData),),
        exclude=("beam_size",),
        patience=3,
        help="""Train a seq2seq translator with attention on DATA (tab-separated pairs, e.g. the
    Tatoeba/Anki files) or on --src/--tgt aligned files.

    \b
    Examples:
      dlkit train-translator fra.txt -o en-fr/
      dlkit train-translator fra.txt --reverse -o fr-en/
      dlkit train-translator --src corpus.en --tgt corpus.fr -o en-fr/ --attention bahdanau
      dlkit train-translator my-pairs.tsv --init-from en-fr/ -o en-fr-mine/ --epochs 2
      dlkit train-translator my-pairs.tsv --init-from shipped -o en-fr-mine/ --epochs 2
    """),
    predict=(Predict(
        command="translate",
        summary="Translate sentences (English to French by default), line by line.",
        load="dlkit.tasks.translator.predict:load",
        run="dlkit.tasks.translator.predict:translate",
        inputs="texts",
        options=(Fields(Config, only=("beam_size",)),),
        run_options=(Fields(AttentionMap),),
        columns={"input": None, "translation": None, "score": None, "confidence": None},
        plain="translation",
        model_help=MODEL_HELP,
        serve="Translations of sentences.",
        help="""Translate INPUTS, or - for one sentence per line from stdin: one output line per
    input line, in order (empty lines stay empty), streamed in batches; --json gives
    JSON Lines with scores instead of plain text, --table a table.

    \b
    Examples:
      dlkit translate "Where is the station?"
      dlkit translate - < english.txt > french.txt
      dlkit translate --json "I am hungry." --attention-map hungry.png
      dlkit translate --engine ray --address head:6379 --workers 8 - < corpus.en > corpus.fr
    """),),
    evaluate=Evaluate(
        command="evaluate-translator",
        summary="sacreBLEU and chrF of a translator on held-out pairs.",
        function="dlkit.tasks.translator.model:evaluate",
        options=(Fields(EvaluateConfig), Fields(Config, only=("beam_size",))),
        model_help=MODEL_HELP,
        help="""sacreBLEU and chrF (with their signatures) of a translator on DATA.

    \b
    Examples:
      dlkit evaluate-translator fra.txt                   # the held-out test split
      dlkit evaluate-translator newstest.tsv --split all --model en-fr/
    """),
    # A translator folder holds its SentencePiece models.
    exports_decoder=lambda folder: os.path.exists(os.path.join(folder, "source.spm")),
)

__getattr__ = lazy_exports(__name__, {
    "train": "model", "load": "predict", "evaluate": "model", "translate": "predict", "Translator": "predict",
    "Translation": "predict", "corpus_scores": "model", "read_pairs": "data", "split_pairs": "data",
    "references": "data",
})
