"""Word2Vec word vectors (gensim): train, query, evaluate, export.

    from dlkit.tasks import word2vec
    run = word2vec.train(["corpus.txt"], "vectors.bin", word2vec.Config(epochs=10))
    vectors = word2vec.load("vectors.bin")
    vectors.analogy(["king", "woman"], ["man"])      # [{"word": "queen", "score": ...}, ...]
    for record in vectors.predict(["paris"]):        # the nearest words of each word
        ...
    word2vec.evaluate(None, vectors)                 # analogy accuracy (questions-words.txt)

Nothing here imports TensorFlow, nor does any module of this task.
"""

from dlkit.core.task import Task, lazy_exports

TASK = Task(
    name="word2vec",
    summary="Word2Vec word vectors.",
    commands={"word2vec": ("dlkit.tasks.word2vec.cli", "Train, query, evaluate and export Word2Vec word vectors.")},
)

__getattr__ = lazy_exports(__name__, {
    "Config": "config", "train": "model", "load": "model", "evaluate": "model", "WordVectors": "model",
})
