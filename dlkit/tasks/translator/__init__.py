"""Translation: a seq2seq LSTM with attention over SentencePiece subwords.

    from dlkit.core.inputs import iter_texts
    from dlkit.tasks import translator
    run = translator.train("fra.txt", "en-fr/", translator.Config(epochs=5))
    for record in translator.load("en-fr/").predict(iter_texts(["I am hungry."])):
        print(record["translation"])      # {"input", "translation", "score"}
    translator.evaluate("fra.txt", "en-fr/")   # BLEU and chrF of the held-out test split

The names below are imported on first use, so importing the package costs no TensorFlow.
"""

from dlkit.core.task import lazy_exports

# command: summary shown by `dlkit --help`; the commands live in .cli
COMMANDS = {
    "train-translator": "Train a seq2seq LSTM translator with attention on sentence pairs.",
    "translate": "Translate sentences (English to French by default), line by line.",
    "evaluate-translator": "sacreBLEU and chrF of a translator on held-out pairs.",
}

__getattr__ = lazy_exports(__name__, {
    "Config": "config", "train": "model", "load": "model", "evaluate": "model", "Translator": "model",
    "Translation": "model", "corpus_scores": "model", "read_pairs": "data", "split_pairs": "data",
    "references": "data",
})
