"""Texts -> the geolocator's inputs: a document vector from word vectors, and the
candidate points of the place names found, with what describes each. No TensorFlow."""

import math
from collections import Counter
from typing import Iterable

import numpy as np

from dlkit.tasks.geolocator.config import Config
from dlkit.tasks.geolocator.gazetteer import KINDS, SMALL_TOWN, Gazetteer, in_areas
from dlkit.tasks.geolocator.geometry import EARTH_RADIUS_KM, to_xyz
from dlkit.text.tokens import tokenize

# Features of a candidate: 15 from the text and the gazetteer, and with `world_knowledge`
# 5 more (capital, in a region or country the text names, population share among the
# name's readings, whether the text names any). Folders from before have the 15.
N_FEATURES = 15
WORLD_FEATURES = 5


def n_features(config: Config) -> int:
    return N_FEATURES + (WORLD_FEATURES if config.world_knowledge else 0)


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
        """Features (K, n_features), unit points (K, 3) and a mask (K,) of the candidates."""
        size, world = self.config.max_candidates, self.config.world_knowledge
        features = np.zeros((size, n_features(self.config)), np.float32)
        points = np.zeros((size, 3), np.float32)
        mask = np.zeros(size, np.float32)
        found, length = self.gazetteer.mentions(text)
        if not found:
            return features, points, mask
        named = self.gazetteer.areas(found, text) if world else {}
        if world:
            found = self._without_qualifiers(found, text)
        counts = Counter(key for key, _ in found)
        first = {}
        for key, position in found:
            first.setdefault(key, position)
        total, top = sum(counts.values()), max(counts.values())
        context_only = self._areas_of_named_cities(counts) if world and self.config.cities_over_areas else {}
        rows, context = [], {}
        for key in sorted(counts, key=lambda k: (-counts[k], first[k])):
            # The regions and countries the *other* names name: Texas does not place itself.
            regions = set().union(*(r for k, (r, _) in named.items() if k != key))
            countries = set().union(*(c for k, (_, c) in named.items() if k != key))
            context[key] = regions, countries
            readings = self.gazetteer.readings(key, self.config.readings, regions, countries)
            if world:
                # Context overrides priors: where some reading lies in a region or country
                # the text names, only those stay ("Moscow, Idaho" is not Moscow, Russia).
                inside = [p for p in readings if in_areas(p, regions, countries)]
                readings = inside or readings
            readings = [p for p in readings if p not in context_only.get(key, ())]
            rows.extend((key, rank, len(readings), place) for rank, place in enumerate(readings))
            if len(rows) >= size:
                break
        rows = rows[:size]
        largest = {}
        for key, _, _, place in rows:
            largest[key] = max(largest.get(key, 1), place.population)
        xyz = to_xyz([r[3].lat for r in rows], [r[3].lon for r in rows])
        km = EARTH_RADIUS_KM * np.arccos(np.clip(xyz @ xyz.T, -1, 1))
        keys = [r[0] for r in rows]
        for i, (key, rank, n_readings, place) in enumerate(rows):
            near = {keys[j] for j in np.flatnonzero(km[i] < self.config.support_km) if keys[j] != key}
            support = sum(counts[k] for k in near) / total
            seen_agrees = any(keys[j] == key and rows[j][3].kind == "seen" and km[i, j] < 50 and j != i
                              for j in range(len(rows)))
            features[i, :N_FEATURES] = [
                math.log1p(counts[key]), counts[key] / total, first[key] / max(1, length),
                float(counts[key] == top), math.log10(place.population + 1) / 7,
                *(float(place.kind == kind) for kind in KINDS),
                rank / max(1, self.config.readings - 1), math.log1p(n_readings), support,
                float(seen_agrees), float(len(key) > 1), math.log1p(len(counts)),
            ]
            if world:
                regions, countries = context[key]
                features[i, N_FEATURES:] = [
                    float(place.capital), float((place.country, place.admin1) in regions),
                    float(place.country in countries), place.population / largest[key],
                    float(bool(regions or countries)),
                ]
            points[i] = xyz[i]
            mask[i] = 1
        return features, points, mask

    def _areas_of_named_cities(self, counts: Counter) -> dict[tuple, set]:
        """Name key -> its country and region readings (and its annotated readings inside
        them) when some city of another name, mentioned at least as often, lies inside one of
        them: the text is about that city, and the area only says where it is (and which
        area the name is: "Georgia" beside Tbilisi is not the state). Only a city of
        SMALL_TOWN people or more counts: with towns in the tables, some small-town
        reading of almost any capitalised word lies inside the country named beside it."""
        places = self.gazetteer.places

        def inside(place, area) -> bool:
            return place.country == area.country and (area.kind == "country" or place.admin1 == area.admin1)

        dropped = {}
        for key in counts:
            areas = [p for p in places[key] if p.kind in ("country", "state")]
            cities = [c for other in counts if other != key and counts[other] >= counts[key]
                      for c in places[other] if c.kind == "city" and c.population >= SMALL_TOWN] if areas else []
            if any(inside(c, a) for a in areas for c in cities):
                dropped[key] = {*areas, *(p for p in places[key] if p.kind == "seen"
                                          and any(inside(p, a) for a in areas))}
        return dropped

    def _without_qualifiers(self, found: list[tuple[tuple, int]], text: str) -> list[tuple[tuple, int]]:
        """The mentions less those of a region or country that qualify the name before them
        ("Paris, Texas": Texas says which Paris, it is not where the text is about); the
        text's first mention always stays."""
        tokens = tokenize(text)
        kept = found[:1]
        for (before, start), (key, position) in zip(found, found[1:]):
            end = start + len(before)
            qualifies = (position == end + 1 and tokens[end] == ","
                         and any(p.kind in ("state", "country") for p in self.gazetteer.places[key]))
            if not qualifies:
                kept.append((key, position))
        return kept

    def encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        parts = [self.candidates(text) for text in texts]
        return {
            "doc": np.stack([self.document_vector(t) for t in texts]) if texts else
            np.zeros((0, self.vectors.vector_size), np.float32),
            "features": np.stack([p[0] for p in parts]) if parts else
            np.zeros((0, self.config.max_candidates, n_features(self.config))),
            "points": np.stack([p[1] for p in parts]) if parts else np.zeros((0, self.config.max_candidates, 3)),
            "mask": np.stack([p[2] for p in parts]) if parts else np.zeros((0, self.config.max_candidates)),
        }


def inverse_document_frequency(texts: list[list[str]], words: Iterable[str]) -> dict[str, float]:
    """Smoothed idf, log((1 + n) / (1 + df)) + 1, as scikit-learn computes it."""
    df = Counter(w for tokens in texts for w in set(tokens))
    n = len(texts)
    return {w: round(math.log((1 + n) / (1 + df[w])) + 1, 4) for w in words}

