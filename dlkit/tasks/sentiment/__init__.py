"""Text classification (sentiment): BiLSTM/GRU, CNN or n-gram models over words.

    from dlkit.tasks import sentiment
    run = sentiment.train("sst2/train.tsv", "mine/", sentiment.Config(epochs=3))
    for record in sentiment.load().predict(["What a wonderful film"]):   # the shipped model
        print(record)   # {"input": ..., "label": "positive", "score": 0.99}
    sentiment.evaluate("sst2/dev.tsv", "mine/")   # accuracy, macro_f1, confusion_matrix
"""

from dlkit.core.task import lazy_exports

# command: summary shown by `dlkit --help`; the commands live in .cli
COMMANDS = {
    "train-sentiment": "Train a BiLSTM/GRU or n-gram sentiment classifier on labelled texts.",
    "sentiment": "Label texts positive or negative (or your model's labels).",
    "evaluate-sentiment": "Accuracy, macro-F1 and confusion matrix of a sentiment model.",
}

__getattr__ = lazy_exports(__name__, {
    "Config": "config", "train": "model", "load": "model", "evaluate": "model", "Sentiment": "model",
})
