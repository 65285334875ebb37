"""The translator's settings, with why each default is what it is. No TensorFlow here:
the commands' options are made from these fields."""

from dataclasses import dataclass

from dlkit.core.config import setting

CELLS = ("lstm", "gru")
ATTENTIONS = ("luong", "bahdanau")


@dataclass
class Config:
    # 8,000 subwords per language cover Tatoeba's everyday vocabulary with short
    # sequences while keeping the output softmax cheap on a CPU.
    vocab_size: int = setting(8000, "Subwords per language (SentencePiece).", min=50)
    # Subword tokens per side; longer pairs are left out of training (Tatoeba's are short).
    max_length: int = setting(40, "Longest sentence in subwords; longer pairs are left out.", min=4)
    embedding_dim: int = setting(256, "Subword embedding size.", min=4)
    # Encoder units per direction; the decoder gets twice as many to take both directions.
    units: int = setting(256, "Encoder units per direction.", min=4)
    cell: str = setting("lstm", "Recurrent cell of the encoder and the decoder.", choices=CELLS)
    bidirectional: bool = setting(True, "Read the source both ways.", flags=("--bidirectional/--unidirectional",))
    # Luong (multiplicative): one matrix product, fast; Bahdanau (additive): a small MLP.
    attention: str = setting("luong", "Attention: luong (multiplicative) or bahdanau (additive).",
                             choices=ATTENTIONS)
    dropout: float = setting(0.2, "Dropout in the recurrent layers and before the output.", min=0, max=0.9)
    batch_size: int = setting(64, "Sentence pairs per training step, sentences per decoding batch.", min=1,
                              flags=("-b", "--batch-size"))
    epochs: int = setting(10, "Most epochs to train.", min=1)
    learning_rate: float = setting(1e-3, "Adam's learning rate.", min=0, min_open=True, aliases=("--lr",))
    # Held out by source sentence (all translations of a sentence on one side), so that
    # BLEU measures translation, not memory of a sibling translation.
    val_fraction: float = setting(0.05, "Share of source sentences held out for validation.", min=0.001, max=0.5,
                                  flags=("--val-split",), aliases=("--val-fraction",))
    test_fraction: float = setting(0.05, "Held out (never trained on) for evaluate-translator --split test.",
                                   min=0, max=0.5, flags=("--test-split",), aliases=("--test-fraction",))
    # Validation BLEU each epoch on this many held-out sentences (greedy decoding).
    bleu_sentences: int = setting(500, "Validation sentences translated for each epoch's BLEU.", min=1)
    # Halve the learning rate when validation BLEU has not risen for this many epochs:
    # smaller steps often find the next gain before early stopping gives up.
    lr_patience: int = setting(1, "Halve the learning rate when validation BLEU has not improved for this "
                               "many epochs.", min=1)
    beam_size: int = setting(4, "Beams of the search; 1: greedy decoding.", min=1)
    # GNMT length normalization ((5 + length) / 6) ** alpha: without it beams favour
    # short outputs.
    length_alpha: float = setting(0.6, min=0, cli=False)
    # Set from --seed (0 without it), so that a model folder records how it was made.
    seed: int = setting(0, cli=False)
    # Train on only the first N training pairs (in file order): quick experiments.
    max_pairs: int | None = setting(None, "Train on only this many pairs.", min=10)


@dataclass
class TrainData:
    # Aligned files (one sentence a line each) are how most parallel corpora come.
    src: str | None = setting(None, "Source sentences, one a line (with --tgt).", path="file")
    tgt: str | None = setting(None, "Target sentences, aligned with --src.", path="file")
    # A pairs file serves both directions.
    reverse: bool = setting(False, "Translate from the second column to the first.", flags=("--reverse",))


@dataclass
class AttentionMap:
    # One picture of one sentence's attention: more would need a picture each.
    attention_map: str | None = setting(None, "Draw where the model looked, for a single sentence (PNG).",
                                        output=(".png",))


@dataclass
class EvaluateConfig:
    # The pairs train-translator held out of the same file (by the same hashing).
    split: str = setting("test", "test: only the pairs train-translator held out from DATA (same hashing); "
                         "all: every pair.", choices=("test", "all"))
    reverse: bool = setting(False, "Evaluate the second column -> first.", flags=("--reverse",))
    samples: int = setting(5, "Example translations to show.", min=0)
