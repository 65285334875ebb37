"""World-news headlines made from the gazetteer, for training: the corpora are mostly local
US news, so they rarely show a capital or a world city, and when they do, the local
reading ("Paris" in Texas) is the one annotated. No TensorFlow."""

import re

import numpy as np

from dlkit.tasks.geolocator.data import Article
from dlkit.tasks.geolocator.gazetteer import REGIONS, Gazetteer, plain
from dlkit.tasks.geolocator.geometry import ACCURACY_KM, distance_km
from dlkit.text.tokens import tokenize

# Generic news frames: the place is the only clue, so the model learns from the candidate
# features (capital, population share, a named region), not from the wording.
TEMPLATES = (
    "{} officials warn of water shortages this summer", "Thousands march through {} after the vote",
    "Storm leaves much of {} without power", "Council in {} votes on next year's spending",
    "Police in {} arrest two men after a robbery", "Nurses in {} walk out over staffing",
    "A new bridge opens in {}", "House prices in {} keep rising", "Schools across {} shut by flooding",
    "{} to host a regional trade conference", "Fire guts a warehouse in {}", "Teachers in {} reach a pay deal",
    "Drought hits farmers around {}", "{} unveils plans for a new stadium",
    "Museum in {} returns looted artefacts", "Election count in {} delayed by a recount",
    "Heat grips {} as temperatures soar", "Investors eye {} as its economy grows",
    "Earthquake shakes buildings in {}", "Water rationing begins in {}",
)
CORPUS = "gazetteer"
# Second sentences naming a place near the first one: a real article names its town and
# the places around it, and the first, most mentioned one is where it is.
NEARBY = (
    "Crews from {} were called in to help", "Residents of nearby {} were told to stay home",
    "Traffic to {} was also disrupted", "A similar plan was rejected in {} last year",
    "Officials in {} are watching closely", "The company also runs a site in {}",
)
NEARBY_KM = (20.0, 250.0)


def frames(texts: list[str], gazetteer: Gazetteer) -> list[str]:
    """Real headlines as frames: the first sentence of each text that names exactly one
    place, once, with "{}" where the name was ("Deputies arrest {} teen on weapon count").
    Filled with world places, they show local news wording next to places far away, so the
    wording alone cannot say "this is in the US"."""
    found = []
    for text in texts:
        title = text.split(". ", 1)[0].strip()
        if not 3 <= len(title.split()) <= 20 or "{" in title or "}" in title:
            continue
        mentions, _ = gazetteer.mentions(title)
        if len(mentions) != 1:
            continue
        pattern = r"\W+".join(re.escape(token) for token in mentions[0][0])
        match = re.search(rf"(?<!\w){pattern}(?!\w)", title, re.IGNORECASE)
        if match:
            found.append(title[:match.start()] + "{}" + title[match.end():])
    return found


def _usual_first(places) -> list:
    """The readings of a name, the one a bare mention means first: the capital, unless it
    has under a tenth of the largest one's people (Plymouth is Montserrat's capital, and
    empty), else the most populous."""
    # every field in the key: readings that tie on population and region would otherwise
    # come in the set's order, which changes with Python's string hashing from run to run
    places = sorted(places, key=lambda p: (-p.population, p.country, p.admin1, p.lat, p.lon, p.kind, p.capital))
    capital = next((p for p in places if p.capital and p.population >= 0.1 * places[0].population), None)
    return [capital, *(p for p in places if p != capital)] if capital else places


def headlines(gazetteer: Gazetteer, count: int, seed: int, real_frames: list[str] = (),
              nearby: float = 0.0) -> list[Article]:
    """`count` headlines, each naming one place at its coordinates: 25% a capital, 30% a
    city whose name several places share (the usual reading bare or with its region, the
    others always with theirs), 20% the usual reading of a name whose annotated reading
    lies elsewhere (Paris, France: the corpora annotate Paris, Texas), 15% any city (more
    often a populous one), 10% a country;
    half in TEMPLATES, half in `real_frames` (see `frames`) where there are any. A `nearby`
    share also names one or two other cities 20-250 km away (NEARBY), and half of those
    that name a contested place bare are about its annotated reading instead ("Paris"
    with towns of Lamar County is Paris, Texas): the single name is not the whole answer.
    The same seed gives the same headlines."""
    if count <= 0:
        return []
    rng = np.random.default_rng(seed)
    countries, states = gazetteer.tables.countries, gazetteer.tables.states
    regions = {("US", code): state["name"] for code, state in states.items()}
    regions.update({(country, code): name for country, names in REGIONS.items() for code, name in names.items()})
    # name -> its city readings, the usual one (capital, else most populous) first; not for
    # names of a state or country (Florida is the state, not Florida, Uruguay)
    readings = {}
    for places in gazetteer.places.values():
        if any(p.kind in ("state", "country") for p in places):
            continue
        for place in places:
            if place.kind == "city":
                readings.setdefault(place.name, set()).add(place)
    readings = {name: _usual_first(places) for name, places in sorted(readings.items())}
    flat = [p for places in readings.values() for p in places]
    capitals = [p for p in flat if p.capital]
    shared = [p for p in flat if len(readings[p.name]) > 1]
    # Usual readings more than 161 km from the name's annotated one: without such
    # headlines the annotated reading is right in all the training data of that name.
    contested = []
    for name, places in readings.items():
        seen = [p for p in gazetteer.places.get(tuple(tokenize(name)), []) if p.kind == "seen"]
        if seen and distance_km([places[0].lat, places[0].lon], [seen[0].lat, seen[0].lon]) > ACCURACY_KM:
            contested.append(places[0])
    weights = np.sqrt(np.array([max(p.population, 1) for p in flat], np.float64))
    weights /= weights.sum()
    nations = sorted((p for places in gazetteer.places.values() for p in places if p.kind == "country"),
                     key=lambda p: p.name)
    points = np.array([[p.lat, p.lon] for p in flat])
    articles = []
    for _ in range(count):
        draw = rng.random()
        accompanied = nearby > 0 and rng.random() < nearby  # without them, the headlines of before
        if draw < 0.1:
            place = nations[rng.integers(len(nations))]
            where = place.name
        else:
            pool = (capitals if draw < 0.35 else shared if draw < 0.65 else contested if draw < 0.85 else None)
            pool = pool if pool is None or len(pool) else capitals
            place = pool[rng.integers(len(pool))] if pool else flat[rng.choice(len(flat), p=weights)]
            name = place.name if rng.random() < 0.5 else plain(place.name)
            usual = readings[place.name][0] == place
            region = regions.get((place.country, place.admin1))
            country = countries.get(place.country, {}).get("name")
            side = rng.random()
            if usual and side < 0.5:
                where = name
            elif region and (side < 0.8 or not country):
                where = f"{name}, {region}"
            else:
                where = f"{name}, {country or region or ''}".rstrip(", ")
        pool = real_frames if len(real_frames) and rng.random() < 0.5 else TEMPLATES
        text = pool[rng.integers(len(pool))].format(where)
        lat, lon = place.lat, place.lon
        if accompanied:
            if place in contested and where == name and rng.random() < 0.5:
                seen = next(p for p in gazetteer.places[tuple(tokenize(place.name))] if p.kind == "seen")
                lat, lon = seen.lat, seen.lon
            away = distance_km(points, np.array([[lat, lon]]))
            around = np.flatnonzero((away >= NEARBY_KM[0]) & (away <= NEARBY_KM[1]))
            around = [i for i in around if flat[i].name != place.name]
            for i in rng.choice(around, size=min(len(around), int(rng.integers(1, 3))), replace=False):
                # accent-free: the tokenizer splits "Ózd", and the gazetteer has no "zd"
                text += ". " + NEARBY[rng.integers(len(NEARBY))].format(plain(flat[i].name))
        articles.append(Article(text[0].upper() + text[1:], lat, lon, corpus=CORPUS))
    return articles
