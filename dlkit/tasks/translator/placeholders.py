"""Numbers and names through a translator. The model garbles what it reads in pieces:
a number the source subwords cut up ("12,500": 1 2 , 5 0 0; "sold 12,500 cars" ->
"vendu 1200 voitures", "3.7 percent" -> "37 pour cent"), and a name it never learnt
("Angela Merkel met ..." -> "La série a rencontré ..."). It copies a number it reads as
one subword ("500") and a name it has seen copied thousands of times ("Tom"). So each
such number or name is translated as a placeholder of that kind and put back afterwards,
a number written the target language's way. No model change: numbers work for any
translator whose subwords hold whole numbers, names for one whose training pairs copy
some names (train() records them).

Measured on newstest2014 with the shipped translator (tasks/translator/README.md):
numbers found in the translation 50.6% -> 72.7%; BLEU 10.60 -> 10.69 with numbers, and
-> 11.83 with names too (chrF 37.44 -> 39.24)."""

import re
from collections import Counter
from dataclasses import dataclass, replace

from dlkit.core.errors import DlkitError
from dlkit.tasks.translator.subwords import WORD_START, Subwords

# A number as English writes it: digits, with "," between thousands and "." before
# decimals ("12,500.5"), standing alone (not part of "G20" or "3D"). A comma or full stop
# after it ends the sentence or clause.
NUMBER = re.compile(r"(?<![\w.,])\d+(?:[.,]\d+)*(?![\w]|[.,]\d)")
FORMATS = ("as-written", "fr", "de")
# The separators each format writes: between thousands, before decimals.
_SEPARATORS = {"fr": (" ", ","), "de": (".", ",")}
# A name: capitalised words ("Angela Merkel", "Saint-Denis"); at the start of a sentence,
# where any word is capitalised, see name_spans.
_CAPITALISED = r"[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ]+(?![^\W\d_])"
NAME = re.compile(rf"(?<![\w'’-]){_CAPITALISED}(?:[ -]{_CAPITALISED})*")
_WORD = re.compile(rf"(?<![\w'’-])(?<!^){_CAPITALISED}")  # a capitalised word, not the text's first
# Names to stand in for others: words the training pairs copy from source to target in
# at least COPIED of the NAME_PAIRS or more pairs that have them, the most pairs first, up
# to NAMES (a text with more names keeps the rest as they are). Tatoeba and the news
# pairs give Tom (copied in 9,555 of 9,598 pairs), Boston, York, Obama, ...; Mary is no
# such name (copied in 946 of 1,521: French Tatoeba often writes Marie).
COPIED, NAME_PAIRS, NAMES = 0.98, 20, 8


@dataclass(frozen=True)
class Carried:
    """What a placeholder stands for: the source's text, the translation's, and which
    kind of thing it is (for the warning when the translation loses it)."""
    source: str
    written: str
    kind: str


def number_placeholders(src: Subwords, tgt: Subwords) -> list[str]:
    """The numbers a placeholder may be: one subword in both vocabularies, of two or
    three digits (a single digit is often written as a word, "3" -> "trois"; four are a
    year, around which the model moves words), not starting with 0; the longest first,
    then the most frequent (SentencePiece's order). Measured on newstest2014: the shipped
    model lost 98 of 375 placeholders taken so (100, 200, 500, ...), 165 taken most
    frequent first (19, 10, 20, ...); years as the placeholders of years lost more too."""
    found = []
    for index in range(len(src)):
        piece = src.processor.id_to_piece(index)
        number = piece[len(WORD_START):]
        if (piece.startswith(WORD_START) and number.isdigit() and number.isascii() and 2 <= len(number) <= 3
                and not number.startswith("0") and tgt.is_piece(piece)):
            found.append(number)
    return sorted(found, key=len, reverse=True)


def name_placeholders(sources: list[str], targets: list[str]) -> list[str]:
    """The names that training pairs copy most reliably (COPIED, NAME_PAIRS, NAMES)."""
    pairs, copied = Counter(), Counter()
    for source, target in zip(sources, targets):
        in_target = set(re.findall(_CAPITALISED, target))
        for word in set(_WORD.findall(source)):
            pairs[word] += 1
            copied[word] += word in in_target
    return [word for word, n in pairs.most_common() if n >= NAME_PAIRS and copied[word] >= COPIED * n][:NAMES]


def checked_names(names, source: str) -> list[str]:
    """A folder's name placeholders (config.json's name_placeholders), checked: what a
    crafted file holds there goes into patterns and translations."""
    if not (isinstance(names, list) and len(names) <= NAMES
            and all(isinstance(n, str) and re.fullmatch(_CAPITALISED, n) for n in names)):
        raise DlkitError(f"{source}: name_placeholders must be a list of at most {NAMES} capitalised words")
    return names


def name_spans(text: str, src: Subwords) -> list[str]:
    """The capitalised spans of `text` that may be names. A sentence starts with a capital
    whatever its first word: there, a first word that the source subwords hold in lower
    case as one piece ("The", "Then") is that word, and the rest of the span may be a
    name; a first word alone is none (taking it where it is no such word, "Merkel said",
    lost Tatoeba's "Mary ..." sentences 0.07 BLEU: tasks/translator/README.md)."""
    spans = []
    for match in NAME.finditer(text):
        span, before = match.group(), text[: match.start()].rstrip()
        if not before or before[-1] in ".!?:\"“«":
            first, _, rest = span.partition(" ")
            if src.is_piece(WORD_START + first.lower()):
                span = rest
            elif not rest:  # one capitalised word starting a sentence: any word
                span = ""
        if span:
            spans.append(span)
    return spans


def masked(text: str, src: Subwords, numbers: list[str], names: list[str], carried_names: set[str],
           number_format: str) -> tuple[str, dict[str, Carried]]:
    """`text` with each number the source subwords cut into pieces, and each span of
    `carried_names`, replaced by a placeholder (from `numbers`, `names`) that the text
    does not already hold, the same one wherever it recurs; and {placeholder: what it
    stands for}."""
    present = set(re.findall(r"\w+", text))
    table: dict[str, Carried] = {}

    def placer(pool: list[str], kind: str, wanted):
        free, given = [p for p in pool if p not in present], {}

        def placed(match: re.Match) -> str:
            found = match.group()
            if found not in given and free and wanted(found):
                given[found] = free.pop(0)
                table[given[found]] = Carried(found, written(found, number_format) if kind == "number" else found,
                                              kind)
            return given.get(found, found)
        return placed

    spans = sorted((span for span in carried_names if span in text and not set(span.split()) & set(names)),
                   key=len, reverse=True)
    if spans:
        pattern = re.compile(rf"(?<![\w'’-])(?:{'|'.join(map(re.escape, spans))})(?![\w'’-])")
        text = pattern.sub(placer(names, "name", lambda span: True), text)
    return NUMBER.sub(placer(numbers, "number", lambda number: len(src.encode([number])[0]) > 1), text), table


def written(number: str, number_format: str) -> str:
    """`number`, read the English way, written in `number_format`: "12,500.5" is
    "12 500,5" in fr, "12.500,5" in de; unchanged as-written (or if not read as such)."""
    if number_format not in _SEPARATORS or not re.fullmatch(r"\d{1,3}(,\d{3})*(\.\d+)?|\d+\.\d+", number):
        return number
    thousands, decimal = _SEPARATORS[number_format]
    whole, _, fraction = number.partition(".")
    return whole.replace(",", thousands) + (decimal + fraction if fraction else "")


def restored(translation, table: dict[str, Carried]):
    """`translation` (a Translation) with what its placeholders stand for put back, and a
    warning for each number or name the translation lost."""
    if not table:
        return translation
    text, warnings = translation.text, list(translation.warnings)
    for placeholder, carried in table.items():
        text, found = re.subn(rf"(?<![\w.,]){re.escape(placeholder)}(?!\w)", lambda _: carried.written, text)
        if not found:
            shown = carried.source if len(carried.source) <= 24 else carried.source[:20] + "..."  # one line
            warnings.append(f"the {carried.kind} {shown} is missing from the translation")
    piece = {WORD_START + p: WORD_START + c.written for p, c in table.items()}
    source_piece = {WORD_START + p: WORD_START + c.source for p, c in table.items()}
    return replace(translation, text=text, warnings=warnings,
                   tokens=[piece.get(t, t) for t in translation.tokens],
                   source_tokens=[source_piece.get(t, t) for t in translation.source_tokens])
