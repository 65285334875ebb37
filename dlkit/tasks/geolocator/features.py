"""Texts -> the geolocator's inputs: a document vector from word vectors, and the
candidate points of the place names found, with what describes each. No TensorFlow."""

import math
from collections import Counter
from typing import Iterable

import numpy as np

from dlkit.tasks.geolocator.config import Config
from dlkit.tasks.geolocator.gazetteer import KINDS, Gazetteer
from dlkit.tasks.geolocator.geometry import EARTH_RADIUS_KM, to_xyz
from dlkit.text.tokens import tokenize

N_FEATURES = 15


class Featurizer:
    """Texts -> the model's inputs: a document vector and candidate points with features."""

    def __init__(self, vectors, idf: dict[str, float], gazetteer: Gazetteer, config: Config):
        self.vectors, self.idf, self.gazetteer, self.config = vectors, idf, gazetteer, config
        self.default_idf = max(idf.values(), default=1.0)

    def document_vector(self, text: str) -> np.ndarray:
        counts = Counter(t for t in tokenize(text) if t in self.vectors.key_to_index)
        if not counts:
            return np.zeros(self.vectors.vector_size, np.float32)
        words = list(counts)
        weights = np.array([counts[w] * (self.idf.get(w, self.default_idf) if self.config.pooling == "tfidf" else 1)
                            for w in words], np.float32)
        mean = weights @ self.vectors[words] / weights.sum()
        return (mean / (np.linalg.norm(mean) or 1)).astype(np.float32)

    def candidates(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Features (K, N_FEATURES), unit points (K, 3) and a mask (K,) of the candidates."""
        size = self.config.max_candidates
        features = np.zeros((size, N_FEATURES), np.float32)
        points = np.zeros((size, 3), np.float32)
        mask = np.zeros(size, np.float32)
        found, length = self.gazetteer.mentions(text)
        if not found:
            return features, points, mask
        counts = Counter(key for key, _ in found)
        first = {}
        for key, position in found:
            first.setdefault(key, position)
        total, top = sum(counts.values()), max(counts.values())
        rows = []
        for key in sorted(counts, key=lambda k: (-counts[k], first[k])):
            readings = self.gazetteer.readings(key, self.config.readings)
            rows.extend((key, rank, len(readings), place) for rank, place in enumerate(readings))
            if len(rows) >= size:
                break
        rows = rows[:size]
        xyz = to_xyz([r[3].lat for r in rows], [r[3].lon for r in rows])
        km = EARTH_RADIUS_KM * np.arccos(np.clip(xyz @ xyz.T, -1, 1))
        keys = [r[0] for r in rows]
        for i, (key, rank, n_readings, place) in enumerate(rows):
            near = {keys[j] for j in np.flatnonzero(km[i] < self.config.support_km) if keys[j] != key}
            support = sum(counts[k] for k in near) / total
            seen_agrees = any(keys[j] == key and rows[j][3].kind == "seen" and km[i, j] < 50 and j != i
                              for j in range(len(rows)))
            features[i] = [
                math.log1p(counts[key]), counts[key] / total, first[key] / max(1, length),
                float(counts[key] == top), math.log10(place.population + 1) / 7,
                *(float(place.kind == kind) for kind in KINDS),
                rank / max(1, self.config.readings - 1), math.log1p(n_readings), support,
                float(seen_agrees), float(len(key) > 1), math.log1p(len(counts)),
            ]
            points[i] = xyz[i]
            mask[i] = 1
        return features, points, mask

    def encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        parts = [self.candidates(text) for text in texts]
        return {
            "doc": np.stack([self.document_vector(t) for t in texts]) if texts else
            np.zeros((0, self.vectors.vector_size), np.float32),
            "features": np.stack([p[0] for p in parts]) if parts else np.zeros((0, self.config.max_candidates, N_FEATURES)),
            "points": np.stack([p[1] for p in parts]) if parts else np.zeros((0, self.config.max_candidates, 3)),
            "mask": np.stack([p[2] for p in parts]) if parts else np.zeros((0, self.config.max_candidates)),
        }


def inverse_document_frequency(texts: list[list[str]], words: Iterable[str]) -> dict[str, float]:
    """Smoothed idf, log((1 + n) / (1 + df)) + 1, as scikit-learn computes it."""
    df = Counter(w for tokens in texts for w in set(tokens))
    n = len(texts)
    return {w: round(math.log((1 + n) / (1 + df[w])) + 1, 4) for w in words}

