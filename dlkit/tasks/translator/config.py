"""The translator's settings, with why each default is what it is. No TensorFlow here:
the commands' options are made from these fields."""

from dataclasses import dataclass

from dlkit.core.config import setting
from dlkit.tasks.translator.placeholders import FORMATS

ARCHITECTURES = ("rnn", "transformer")
CELLS = ("lstm", "gru")
ATTENTIONS = ("luong", "bahdanau")


@dataclass
class Config:
    # 8,000 subwords per language cover Tatoeba's everyday vocabulary with short
    # sequences while keeping the output softmax cheap on a CPU.
    # The shipped translator is a Transformer (better on news and on Tatoeba, after 8
    # epochs and 3 more on a news-weighted mix: 4 h here); the recurrent one stays the
    # default for training one's own: it learns in fewer epochs on a CPU and translates
    # 1.6x as fast (see tasks/translator/README.md).
    arch: str = setting("rnn", "Network: rnn (recurrent, with attention) or transformer.", choices=ARCHITECTURES)
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
    # Transformer only (--arch transformer). A deep encoder and a shallow decoder
    # (Kasai et al. 2021): the encoder runs once per sentence, the decoder once per subword,
    # so decoder layers cost speed and encoder layers hardly any.
    encoder_layers: int = setting(4, "Transformer encoder layers.", min=1)
    decoder_layers: int = setting(2, "Transformer decoder layers.", min=1)
    heads: int = setting(4, "Transformer attention heads (they split --embedding-dim).", min=1)
    feed_forward: int = setting(1024, "Transformer feed-forward width.", min=4)
    # Spreads a tenth of each target's probability over the vocabulary: the standard
    # Transformer recipe; overconfident models search worse.
    label_smoothing: float = setting(0.1, "Transformer label smoothing.", min=0, max=0.5)
    # Linear warm-up, then inverse-square-root decay (WarmUp): attention trained at full
    # rate from the first step diverges. --learning-rate is the peak.
    warmup_steps: int = setting(2000, "Transformer learning-rate warm-up steps.", min=1)
    # The weights at the end of the last epochs, averaged (Vaswani et al.'s checkpoint
    # averaging), are kept when they score better on validation than the best epoch's.
    average_last: int = setting(3, "Transformer: average the weights of this many last epochs (1: none).",
                                min=1)
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
    # short outputs. Chosen on both validations, beam 4 (tasks/translator/README.md): the
    # shipped Transformer at 0.6 / 0.8 / 1.0 / 1.2 / 1.4 gave newstest2014 BLEU 10.39 /
    # 10.47 / 10.60 / 10.64 / 10.27 and chrF 37.0 / 37.2 / 37.4 / 37.7 / 37.9; Tatoeba
    # held-out BLEU 46.01 at 0.6, 46.12 at 1.0. A folder's config.json says its own.
    length_alpha: float = setting(1.0, min=0, cli=False)
    # How the target language writes a number the source writes the English way
    # ("12,500.5"): numbers are put back into translations by dlkit, not written by the
    # model (dlkit.tasks.translator.placeholders). as-written suits a target that writes them
    # as English does, or a source that does not.
    number_format: str = setting("as-written", "How the target language writes numbers: as-written, fr "
                                 "(12 500,5: French and much of Europe), de (12.500,5: German, Spanish, Italian).",
                                 choices=FORMATS)
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
    # Fine-tuning on one's own pairs, or more epochs for a run that stopped short: the
    # model's network and subwords are kept (new subwords would not fit its embeddings).
    init_from: str | None = setting(None, "Start from this translator's weights, subwords and network "
                                    "(fine-tuning, or more epochs); 'shipped': the shipped model.", path="model")


# The settings a translator's weights and subwords fix: --init-from takes them from the
# model it starts from (max_length too: the lengths its positions and splitting know; and
# the number format, the target language's).
ARCHITECTURE = ("arch", "vocab_size", "max_length", "embedding_dim", "units", "cell", "bidirectional", "attention",
                "encoder_layers", "decoder_layers", "heads", "feed_forward", "number_format")


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
