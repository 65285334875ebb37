"""Beam search for the sequence decoders (translation, captioning).

The model is seen through one function, `step(tokens, states) -> (log_probs, states,
attention)`, over a batch laid out sentence-major: `beam` rows per input.
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass
class Hypothesis:
    tokens: list[int]  # without the end token
    # log-probability / ((5 + length) / 6) ** alpha (GNMT): what the search maximizes;
    # close to the mean log-probability per token, without a bias towards short outputs
    score: float
    attention: np.ndarray | None  # (tokens + end, source positions) when asked for


def beam_search(step: Callable, states: list[np.ndarray], batch: int, beam: int, bos: int, eos: int,
                max_steps: int, alpha: float = 0.6, with_attention: bool = False,
                min_length: int = 1, banned: tuple[int, ...] = ()) -> list[Hypothesis]:
    """The best hypothesis per input. `states` hold one row per input; they are repeated
    for the beams here. `beam` 1 is greedy decoding. Outputs have at least `min_length`
    tokens: an empty caption or translation is never the answer, and never contain a
    `banned` token (padding, <unk>, the start token).

    The first beam of each input follows the greedy path to its end: a narrow beam can
    prune that path, and the answer would then score below greedy decoding's."""
    states = [np.repeat(s, beam, 0) for s in states]
    tokens = np.full(batch * beam, bos, np.int32)
    scores = np.full((batch, beam), -np.inf)
    scores[:, 0] = 0.0  # one live hypothesis per input to start with
    sequences = [[] for _ in range(batch * beam)]
    trails = [[] for _ in range(batch * beam)]
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    greedy = [True] * batch  # still following the greedy path in the first beam
    for t in range(max_steps):
        log_probs, states, attention = step(tokens, states)
        log_probs = log_probs.copy()
        log_probs[:, list(banned)] = -np.inf
        if t < min_length:
            log_probs[:, eos] = -np.inf
        vocab = log_probs.shape[1]
        total = (scores.reshape(-1, 1) + log_probs).reshape(batch, beam * vocab)
        best = np.argsort(-total, axis=1)[:, : 2 * beam + 1]  # enough to refill after endings
        new_tokens = np.full(batch * beam, eos, np.int32)
        new_scores = np.full((batch, beam), -np.inf)
        origin = np.zeros(batch * beam, np.int64)
        new_sequences, new_trails = [[] for _ in range(batch * beam)], [[] for _ in range(batch * beam)]
        for b in range(batch):
            filled, candidates = 0, list(best[b])
            if greedy[b]:
                first = int(np.argmax(log_probs[b * beam]))  # the greedy step, from beam 0
                candidates = [first] + [flat for flat in candidates if flat != first]
            for flat in candidates:
                score = total[b, flat]
                if not np.isfinite(score) or filled == beam:
                    break
                parent, token = b * beam + flat // vocab, int(flat % vocab)
                trail = trails[parent] + [attention[parent]] if with_attention else []
                if token == eos or t == max_steps - 1:
                    ended = sequences[parent] + ([] if token == eos else [token])
                    normalized = score / (((5 + len(ended) + 1) / 6) ** alpha)
                    finished[b].append(Hypothesis(ended, float(normalized),
                                                  np.stack(trail) if trail else None))
                    greedy[b] = greedy[b] and flat != candidates[0]
                    continue
                slot = b * beam + filled
                new_tokens[slot], new_scores[b, filled], origin[slot] = token, score, parent
                new_sequences[slot], new_trails[slot] = sequences[parent] + [token], trail
                filled += 1
        states = [s[origin] for s in states]
        tokens, scores, sequences, trails = new_tokens, new_scores, new_sequences, new_trails
        # an input is done once its best ending beats every live hypothesis (scores only fall)
        done = [not greedy[b] and len(f) >= beam and max(h.score for h in f) >= scores[b].max()
                for b, f in enumerate(finished)]
        if all(done) or not np.isfinite(scores).any():
            break
    return [max(f, key=lambda h: h.score) for f in finished]
