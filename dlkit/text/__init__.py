"""Shared by the language tasks: the tokenizer, vocabularies, padding, word vectors and
Word2Vec training.

Imports dlkit.core only; never a task.
"""
