"""Translation data: sentence pairs, their fixed train/validation/test split, and the
datasets training reads (the SentencePiece subwords are in dlkit.tasks.translator.subwords)."""

from dataclasses import dataclass

import numpy as np

from dlkit.core import files
from dlkit.core.errors import DlkitError
from dlkit.core.runtime import tf
from dlkit.tasks.translator.config import Config
from dlkit.tasks.translator.subwords import BOS, EOS, PAD, Subwords  # noqa: F401 (Subwords: where it lived)
from dlkit.text.tokens import pad


@dataclass
class Pairs:
    sources: list[str]
    targets: list[str]
    skipped: int = 0  # malformed lines: one column, or an empty side


def read_pairs(path: str | None = None, src: str | None = None, tgt: str | None = None,
               reverse: bool = False) -> Pairs:
    """Tab-separated pairs (`source<TAB>target[<TAB>attribution...]`, the Tatoeba/Anki
    layout) or two aligned text files. `reverse` swaps the direction."""
    if path:
        sources, targets, skipped = [], [], 0
        for line in _lines(path):
            parts = line.split("\t")
            if len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
                skipped += (line.strip() != "")
                continue
            sources.append(parts[0].strip())
            targets.append(parts[1].strip())
    elif src and tgt:
        left, right = _lines(src), _lines(tgt)
        if len(left) != len(right):
            raise DlkitError(f"{src} has {len(left)} lines but {tgt} has {len(right)}: they must be aligned")
        keep = [(a.strip(), b.strip()) for a, b in zip(left, right)]
        skipped = sum(1 for a, b in keep if not a or not b)
        sources = [a for a, b in keep if a and b]
        targets = [b for a, b in keep if a and b]
    else:
        raise DlkitError("give a tab-separated pairs file, or --src and --tgt")
    if not sources:
        raise DlkitError(f"{path or src}: no sentence pairs found")
    return Pairs(targets, sources, skipped) if reverse else Pairs(sources, targets, skipped)


def _lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        raise DlkitError(f"no such file: {path}") from None
    except UnicodeDecodeError as e:
        raise DlkitError(f"{path} is not UTF-8 text (byte {e.start})") from None


def split_pairs(pairs: Pairs, val_fraction: float, test_fraction: float) -> tuple[Pairs, Pairs, Pairs]:
    """Train / validation / test, by a hash of the left-hand sentence of each pair: every
    translation of a sentence lands on the same side, and the split never changes."""
    buckets: tuple[Pairs, Pairs, Pairs] = (Pairs([], []), Pairs([], []), Pairs([], []))
    for s, t in zip(pairs.sources, pairs.targets):
        key = files.hash_fraction(_normal(s))
        side = 2 if key < test_fraction else 1 if key < test_fraction + val_fraction else 0
        buckets[side].sources.append(s)
        buckets[side].targets.append(t)
    return buckets


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def references(pairs: Pairs) -> tuple[list[str], list[list[str]]]:
    """Unique sources, each with all its reference translations (Tatoeba has several)."""
    grouped: dict[str, list[str]] = {}
    for s, t in zip(pairs.sources, pairs.targets):
        grouped.setdefault(s, []).append(t)
    return list(grouped), list(grouped.values())


def make_dataset(pairs: Pairs, src: Subwords, tgt: Subwords, config: Config,
                 shuffle: bool) -> "tf.data.Dataset":
    """((source ids, decoder input ids), next-token targets, weights masking the padding)."""
    source_ids, target_ids = src.encode(pairs.sources), tgt.encode(pairs.targets)
    keep = [i for i, (s, t) in enumerate(zip(source_ids, target_ids))
            if len(s) + 1 <= config.max_length and len(t) + 1 <= config.max_length]
    if not keep:
        raise DlkitError(f"no pair is within --max-length {config.max_length} subwords")
    sources = pad([source_ids[i] + [EOS] for i in keep], config.max_length)
    decoder_in = pad([[BOS] + target_ids[i] for i in keep], config.max_length)
    decoder_out = pad([target_ids[i] + [EOS] for i in keep], config.max_length)
    weights = (decoder_out != PAD).astype(np.float32)
    dataset = tf.data.Dataset.from_tensor_slices(((sources, decoder_in), decoder_out, weights))
    if shuffle:
        dataset = dataset.shuffle(len(keep), seed=config.seed, reshuffle_each_iteration=True)
        # Batches of similar-length pairs: most Tatoeba sentences are a third of
        # max_length, and the LSTMs would otherwise step through the padding.
        dataset = dataset.bucket_by_sequence_length(
            lambda inputs, outputs, weights: tf.reduce_sum(tf.cast(weights > 0, tf.int32)),
            bucket_boundaries=[6, 9, 12, 16, 24], bucket_batch_sizes=[config.batch_size] * 6)
    else:
        dataset = dataset.batch(config.batch_size)
    return dataset.map(_trim_padding).prefetch(tf.data.AUTOTUNE)


def _trim_padding(inputs, outputs, weights):
    """Cuts a batch to its longest source and target."""
    sources, decoder_in = inputs
    source_length = tf.reduce_max(tf.reduce_sum(tf.cast(sources != PAD, tf.int32), 1))
    target_length = tf.reduce_max(tf.reduce_sum(tf.cast(weights > 0, tf.int32), 1))
    return ((sources[:, :source_length], decoder_in[:, :target_length]),
            outputs[:, :target_length], weights[:, :target_length])
