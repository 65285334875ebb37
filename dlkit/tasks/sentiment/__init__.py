"""Text classification (sentiment): BiLSTM/GRU, CNN or n-gram models over words.

    from dlkit.tasks import sentiment
    run = sentiment.train("sst2/train.tsv", "mine/", sentiment.Config(epochs=3))
    for record in sentiment.load().predict(["What a wonderful film"]):   # the shipped model
        print(record)   # {"input": ..., "label": "positive", "score": 0.99}
    sentiment.evaluate("sst2/dev.tsv", "mine/")   # accuracy, macro_f1, per_class, confusion_matrix

The names below are imported on first use, so importing the package costs no TensorFlow;
inference and evaluation (predict.py) run the model's ONNX twin and never import it.
"""

from dlkit.core.task import Evaluate, Fields, Predict, Task, Train, lazy_exports
from dlkit.tasks.sentiment.config import Config, EvaluateConfig, PredictConfig, TrainData

TASK = Task(
    name="sentiment",
    summary="Sentiment of texts.",
    config=Config,
    train=Train(
        command="train-sentiment",
        summary="Train a BiLSTM/GRU or n-gram sentiment classifier on labelled texts.",
        function="dlkit.tasks.sentiment.model:train",
        output="Model folder to write (model.keras, vocab.json, config.json, training.png).",
        options=(Fields(TrainData),),
        patience=3,
        help="""Train a sentiment classifier on DATA; write the model folder OUTPUT.

    DATA is a folder with one subfolder of .txt files per label (aclImdb: train/pos,
    train/neg; unsup/ is ignored), a CSV/TSV file with a header row, or JSON Lines.
    Labels may be any strings; they are stored with the model.

    \b
    Examples:
      dlkit train-sentiment sst2/train.tsv --validation sst2/dev.tsv -o sentiment/
      dlkit train-sentiment aclImdb/ --max-length 400 -o imdb/
      dlkit train-sentiment reviews.csv --text-field body --label-field stars -o stars/
      dlkit train-sentiment sst2/train.tsv --embeddings glove.6B.50d.txt -o glove-sentiment/
      dlkit train-sentiment sst2/train.tsv --arch ngrams -o fast/
      dlkit train-sentiment my-reviews.tsv --init-from shipped --epochs 2 --learning-rate 0.0005 -o mine/
    """),
    predict=(Predict(
        command="sentiment",
        summary="Label texts positive or negative (or your model's labels).",
        load="dlkit.tasks.sentiment.predict:load",
        inputs="texts",
        options=(Fields(PredictConfig),),
        columns={"input": None, "label": None, "score": None},
        model_help="A model folder written by dlkit train-sentiment [default: the shipped model].",
        serve="The sentiment of texts.",
        help="""Label each of INPUTS positive or negative (or the model's own labels).

    With -, reads one text per line from stdin. Each text gets a record
    {"input", "label", "score"}; an empty line, or one that is not UTF-8, gets an
    error record and the rest go on (exit code 1 at the end).

    \b
    Examples:
      dlkit sentiment "What a wonderful film" "A dull, lifeless mess"
      cut -f1 reviews.tsv | dlkit sentiment - > labels.jsonl
      dlkit sentiment --model imdb/ "Not my cup of tea"
      dlkit sentiment --engine ray --workers 4 - < year-of-news.txt > labels.jsonl
    """),),
    evaluate=Evaluate(
        command="evaluate-sentiment",
        summary="Accuracy, macro-F1 and confusion matrix of a sentiment model.",
        function="dlkit.tasks.sentiment.predict:evaluate",
        options=(Fields(Config, only=("text_col", "label_col")), Fields(EvaluateConfig)),
        model_help="A model folder written by dlkit train-sentiment [default: the shipped model].",
        help="""Accuracy, macro-F1, per-class scores and the confusion matrix of a sentiment
    model on labelled DATA (the matrix is also drawn on stderr).

    DATA is read like train-sentiment's (an aclImdb folder: its test/ part). Labels
    0/1 match a model that names them negative/positive.

    \b
    Examples:
      dlkit evaluate-sentiment sst2/test_is_glue_dev.tsv
      dlkit evaluate-sentiment aclImdb/ --model imdb/ --plot confusion.png
    """),
)

__getattr__ = lazy_exports(__name__, {
    "train": "model", "load": "predict", "evaluate": "predict", "Sentiment": "predict",
})
