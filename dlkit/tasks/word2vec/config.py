"""The settings of the word2vec commands. TF-free.

Training's are those of the shared Word2Vec trainer, which geolocation trains its vectors
with too (dlkit.text.word2vec).
"""

from dlkit.text.word2vec import Word2VecConfig as Config

__all__ = ["Config", "TOP"]

# How many neighbours `similar` and `analogy` report.
TOP = 10
