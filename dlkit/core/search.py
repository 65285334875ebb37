"""Decoding an encoder-decoder (translation, captioning) without TensorFlow: beam search
with its length penalty and bans, and the ONNX twin's two graphs driven by it.

Beam search sees the model through one function, `step(tokens, states, rows) ->
(log_probs, states, attention)`, over a batch laid out sentence-major (`beam` rows per
input), of which it computes the rows `rows`. The same search decodes the Keras graphs
(dlkit.core.decoding.DecoderGraphs) and the twin (TwinDecoder), so that both runtimes
write the same words.
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np

from dlkit.core.errors import DlkitError


@dataclass
class Hypothesis:
    tokens: list[int]  # without the end token
    # log-probability / ((5 + length) / 6) ** alpha (GNMT): what the search maximizes;
    # close to the mean log-probability per token, without a bias towards short outputs
    score: float
    attention: np.ndarray | None  # (tokens + end, source positions) when asked for
    log_prob: float  # the output's log-probability, the end token's included


def beam_search(step: Callable, states: list[np.ndarray], batch: int, beam: int, bos: int, eos: int,
                max_steps: int, alpha: float = 0.6, with_attention: bool = False,
                min_length: int = 1, banned: tuple[int, ...] = (),
                required: "list[tuple[int, ...]] | None" = None,
                avoided: "list[tuple[int, ...]] | None" = None) -> list[Hypothesis]:
    """The best hypothesis per input. `states` hold one row per input; they are repeated
    for the beams here. `beam` 1 is greedy decoding. Outputs have at least `min_length`
    tokens: an empty caption or translation is never the answer, and never contain a
    `banned` token (padding, <unk>, the start token).

    The first beam of each input follows the greedy path to its end: a narrow beam can
    prune that path, and the answer would then score below greedy decoding's.

    `step(tokens, states, rows)` computes only the rows `rows` (indices into the batch x
    beam layout) that hold live hypotheses of inputs still searched: at the first step
    one per input, and none of an input once its search is over (about a third of the
    work of a batch, whose longest output sets its number of steps).

    `required` (one tuple of token ids per input, or None) asks that an input's output
    contain one of its tokens (a disjunctive positive constraint: "cat" or "cats"):
    constrained beam search (Anderson et al. 2017, "Guided Open Vocabulary Image
    Captioning with Constrained Beam Search"), with its finite-state machine of two states
    (no required token yet, one written). Each state keeps its own beam of `beam // 2`
    hypotheses, so an input's rows stay `beam` (the split of a fixed beam among states is
    Post and Vilar's 2018 dynamic beam allocation): the beam of the satisfied state holds
    the best hypotheses that wrote a required token however unlikely the model finds it,
    and only its endings are answers. An input whose constraint is never met before
    `max_steps` gets its best unconstrained ending; an empty tuple leaves its input free.
    `avoided` (one tuple of token ids per input, or None): tokens that input's output never
    contains (negative constraints, as `banned` for all)."""
    required = required or [()] * batch
    if any(required) and beam < 2:
        raise DlkitError("constrained beam search needs a beam of 2 or more: one per state")
    states = [np.repeat(s, beam, 0) for s in states]
    # Slot -> row of `states` holding its state. The step's new states stay as computed and
    # each slot points at its parent's: one copy a step (the next step's rows taken)
    # instead of two (the beams reordered, then the rows taken), which matters for a
    # Transformer's cache of every key and value so far.
    state_of = np.arange(batch * beam)
    tokens = np.full(batch * beam, bos, np.int32)
    scores = np.full((batch, beam), -np.inf)
    scores[:, 0] = 0.0  # one live hypothesis per input to start with
    sequences = [[] for _ in range(batch * beam)]
    trails = [[] for _ in range(batch * beam)]
    finished: list[list[Hypothesis]] = [[] for _ in range(batch)]
    unmet: list[list[Hypothesis]] = [[] for _ in range(batch)]  # endings without a required token
    # Per input, (first slot, size) of each state's beam: one for a free input; for a constrained
    # one, before a required token is written (where it starts), then after.
    half = beam // 2
    banks = [((0, half), (half, beam - half)) if r else ((0, beam),) for r in required]
    greedy = [not r for r in required]  # still following the greedy path in the first beam
    searching = np.ones(batch, bool)
    for t in range(max_steps):
        rows = np.flatnonzero(np.isfinite(scores).ravel() & np.repeat(searching, beam))
        log_probs, states, attention = step(tokens[rows], [s[state_of[rows]] for s in states], rows)
        log_probs = log_probs.copy()
        log_probs[:, list(banned)] = -np.inf
        for b, never in enumerate(avoided or ()):
            if never:
                log_probs[np.ix_(np.flatnonzero(rows // beam == b), never)] = -np.inf
        if t < min_length:
            log_probs[:, eos] = -np.inf
        vocab = log_probs.shape[1]
        at = np.zeros(batch * beam, np.int64)  # row -> its place among the rows computed
        at[rows] = np.arange(len(rows))
        best, totals = _best(scores, log_probs, rows, 2 * beam + 1)  # enough to refill after endings
        new_tokens = np.full(batch * beam, eos, np.int32)
        new_scores = np.full((batch, beam), -np.inf)
        origin = np.zeros(batch * beam, np.int64)
        new_sequences, new_trails = [[] for _ in range(batch * beam)], [[] for _ in range(batch * beam)]
        for b in np.flatnonzero(searching).tolist():
            if required[b]:
                candidates = _constrained(scores[b], log_probs, at[b * beam: (b + 1) * beam], required[b], half)
            else:
                candidates = [(flat, score, 0) for flat, score in zip(best[b].tolist(), totals[b])]
            if greedy[b]:
                first = int(np.argmax(log_probs[at[b * beam]]))  # the greedy step, from beam 0
                candidates = [(first, scores[b, 0] + log_probs[at[b * beam], first], 0)] + [
                    c for c in candidates if c[0] != first]
            filled = [0] * len(banks[b])
            for flat, score, state in candidates:
                if not np.isfinite(score) or all(f == size for f, (_, size) in zip(filled, banks[b])):
                    break
                parent, token = b * beam + flat // vocab, int(flat % vocab)
                trail = trails[parent] + [attention[at[parent]]] if with_attention else []
                if token == eos or t == max_steps - 1:
                    ended = sequences[parent] + ([] if token == eos else [token])
                    normalized = score / (((5 + len(ended) + 1) / 6) ** alpha)
                    answer = Hypothesis(ended, float(normalized), np.stack(trail) if trail else None, float(score))
                    (finished if state == len(banks[b]) - 1 else unmet)[b].append(answer)
                    greedy[b] = greedy[b] and flat != candidates[0][0]
                    continue
                start, size = banks[b][state]
                if filled[state] == size:
                    continue
                place = start + filled[state]
                slot = b * beam + place
                new_tokens[slot], new_scores[b, place], origin[slot] = token, score, parent
                new_sequences[slot], new_trails[slot] = sequences[parent] + [token], trail
                filled[state] += 1
        state_of = at[origin]  # slots left empty point at any state: they are not computed
        tokens, scores, sequences, trails = new_tokens, new_scores, new_sequences, new_trails
        # an input is done once its best ending beats every live hypothesis (scores only fall)
        for b in np.flatnonzero(searching).tolist():
            live = np.isfinite(scores[b]).any()
            done = (not greedy[b] and len(finished[b]) >= banks[b][-1][1]
                    and max(h.score for h in finished[b]) >= scores[b].max())
            searching[b] = live and not done
        if not searching.any():
            break
    return [max(f or u, key=lambda h: h.score) for f, u in zip(finished, unmet)]


def _constrained(scores: np.ndarray, log_probs: np.ndarray, at: np.ndarray, required: tuple[int, ...],
                 half: int) -> list[tuple[int, float, int]]:
    """The continuations of one constrained input, best first, as (index in its (beam x
    vocabulary) candidates, score, state reached): for each state, the best of those that
    reach it, enough to refill its beam after endings. The first state (slots below
    `half`) is reached by writing anything but a required token; the second by writing
    one, or by anything after one. `at`: the input's slots -> rows of `log_probs`
    (meaningful where `scores` is finite)."""
    beam, vocab = len(scores), log_probs.shape[1]
    totals = np.full((beam, vocab), -np.inf)
    live = np.flatnonzero(np.isfinite(scores))
    totals[live] = scores[live, None] + log_probs[at[live]]
    wanted = np.zeros(vocab, bool)
    wanted[list(required)] = True
    first, second = totals.copy(), totals.copy()
    first[half:] = -np.inf
    first[:, wanted] = -np.inf
    second[:half, ~wanted] = -np.inf
    candidates = []
    for state, reaching in enumerate((first, second)):
        size = half if state == 0 else beam - half
        flat = reaching.ravel()
        k = min(2 * size + 1, flat.size)
        top = np.argpartition(flat, flat.size - k)[flat.size - k:]
        candidates += [(int(i), float(flat[i]), state) for i in top]
    return sorted(candidates, key=lambda c: -c[1])


def _best(scores: np.ndarray, log_probs: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per input, the `k` best continuations of its beams, best first: their indices in
    its (beam x vocabulary) candidates and their scores (the beam's score plus the
    token's log-probability), from the log-probabilities of the rows `rows`. Each
    input's best are among the best `k` tokens of each of its beams: those are found
    without sorting whole rows (a sort of every candidate took as long as the network's
    step), then only they are added up and sorted."""
    batch, beam = scores.shape
    vocab = log_probs.shape[1]
    if k < vocab:
        tokens = np.argpartition(log_probs, vocab - k, axis=1)[:, vocab - k:]
    else:
        tokens = np.broadcast_to(np.arange(vocab), log_probs.shape)
    width = tokens.shape[1]
    places = ((rows // beam)[:, None], (rows % beam)[:, None] * width + np.arange(width))
    totals = np.full((batch, beam * width), -np.inf)
    totals[places] = scores.ravel()[rows][:, None] + np.take_along_axis(log_probs, tokens, axis=1)
    flat = np.zeros((batch, beam * width), np.int64)
    flat[places] = tokens + (rows % beam * vocab)[:, None]
    order = np.argsort(-totals, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(flat, order, axis=1), np.take_along_axis(totals, order, axis=1)


class RowsOf:
    """Values of each row that every step reads (an encoder's context, repeated for the
    beams), at the rows a step computes: taken again only when those rows change (a few
    times a batch, as inputs finish), and not at all while every row is computed.
    `take(value, rows)` takes rows of one value."""

    def __init__(self, values: list, take: Callable):
        self.values, self.take = values, take
        self.rows, self.taken = None, None

    def __call__(self, rows: np.ndarray) -> list:
        if len(rows) == len(self.values[0]):
            return self.values
        if self.rows is None or not np.array_equal(rows, self.rows):
            self.rows, self.taken = rows, [self.take(value, rows) for value in self.values]
        return self.taken


class TwinDecoder:
    """An encoder-decoder's ONNX twin (dlkit.core.twins Graphs, written by
    dlkit.export.write_decoder_twin) with DecoderGraphs' `search`: the encoder graph
    (its inputs -> context_0.., state_0..) runs once per batch, the step graph (tokens,
    state_0.., context_0.. -> log_probs, attention, next_state_0..) once per output token."""

    def __init__(self, encoder, step):
        self.encoder, self.step = encoder, step
        self.states = _numbered(encoder.outputs, "state_")
        self.context = _numbered(encoder.outputs, "context_")

    def search(self, inputs: list[np.ndarray], beam: int, bos: int, eos: int, max_steps: int, alpha: float,
               with_attention: bool = False, banned: tuple[int, ...] = (),
               required: "list[tuple[int, ...]] | None" = None,
               avoided: "list[tuple[int, ...]] | None" = None) -> list[Hypothesis]:
        """The best hypothesis per input row (see beam_search)."""
        encoded = dict(zip(self.encoder.outputs, self.encoder.run(*inputs)))
        # Every beam of an input reads that input's context: repeated once, not per step.
        context = RowsOf([np.repeat(encoded[name], beam, axis=0) for name in self.context], lambda c, rows: c[rows])

        def step(tokens, states, rows):
            out = self.step.run_named({"tokens": tokens, **dict(zip(self.states, states)),
                                       **dict(zip(self.context, context(rows)))})
            return out["log_probs"], [out[f"next_{name}"] for name in self.states], out["attention"]

        return beam_search(step, [encoded[name] for name in self.states], len(inputs[0]), beam, bos, eos, max_steps,
                           alpha, with_attention, banned=banned, required=required, avoided=avoided)


def _numbered(names: list[str], prefix: str) -> list[str]:
    """`prefix`0, `prefix`1, ... among `names`, in number order."""
    return sorted((n for n in names if n.startswith(prefix)), key=lambda n: int(n[len(prefix):]))


def check_sizes(layers: dict[str, int], size: int, path: str) -> None:
    """Refuses a vocabulary file (`size` entries) that does not fit the layers it feeds
    or names ({layer: rows or classes}, as the twin's writer recorded them): ids beyond
    them fail inside the graph, and a vocabulary of another model decodes the wrong words
    without a word of warning."""
    for name, expected in layers.items():
        if expected != size:
            raise DlkitError(f"{path}: {size:,} entries, but the model's {name} layer has {expected:,}")
