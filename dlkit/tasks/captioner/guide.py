"""What the image network sees, as words a caption must contain: the ImageNet classifier
dlkit ships (MobileNetV2's ONNX twin, dlkit.vision.imagenet) labels each photo, and a
class group it is confident of becomes a constraint of the caption's beam search
(dlkit.core.search.beam_search's `required`), as in Anderson et al. 2017, "Guided Open
Vocabulary Image Captioning with Constrained Beam Search".

Why: a captioner learns its words from its captions, and Flickr8k has 70 captions with
"cat" against 9,461 with "dog", so its decoder calls cats dogs (or people on a bench),
while the ImageNet network inside it knows a tabby from a terrier. No TensorFlow here.

WORDS maps a caption word to the words that satisfy it (its plural, a synonym in
Flickr8k's vocabulary) and to the ImageNet classes it names, by their index in the
standard 1000-class order. A word is asked for when the summed probability of its classes
reaches the threshold and no other word of the table is more probable: the 118 dog
breeds share their probability, so a dog of an uncertain breed is still surely a dog.
The table keeps to things Flickr8k's captions name and ImageNet tells apart reliably
(animals, vehicles, a few objects); a word missing from a captioner's vocabulary is
left out for that captioner.

A guided caption also avoids the words of the table whose classes the classifier finds
improbable (summed probability below AVOID_BELOW): a negative constraint, as in Hu et
al. 2019 ("Improved Lexically Constrained Decoding for Translation and Monolingual
Rewriting"). Without it, a cat photo the decoder took for a dog came out as "a dog and a
cat ...": the decoder's own word was kept beside the one asked for.
"""

import numpy as np
from PIL import Image

from dlkit.text.tokens import Vocabulary

# Below this summed probability, a guided caption does not name the word: measured on
# cats_and_dogs, a cat photo gives the dog breeds at most a few percent when it is clearly a cat.
AVOID_BELOW = 0.05
# caption word: (the words that satisfy it, its ImageNet classes)
WORDS = {
    "dog": (("dog", "dogs", "puppy", "puppies"), range(151, 269)),  # Chihuahua .. Mexican hairless
    "cat": (("cat", "cats", "kitty"), range(281, 286)),  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    "bird": (("bird", "birds"), (*range(7, 25), *range(80, 101), *range(127, 147))),  # cock .. albatross
    "horse": (("horse", "horses", "pony"), (339,)),  # sorrel
    "sheep": (("sheep",), (348, 349)),  # ram, bighorn
    "cow": (("cow", "cows", "bull"), (345, 346, 347)),  # ox, water buffalo, bison
    "camel": (("camel",), (354,)),
    "elephant": (("elephant",), (101, 385, 386)),  # tusker, Indian and African elephants
    "bear": (("bear",), range(294, 298)),  # brown, black, ice and sloth bears
    "monkey": (("monkey",), range(365, 383)),  # orangutan .. squirrel monkey
    "bicycle": (("bicycle", "bicycles", "bike", "bikes"), (444, 671)),  # tandem, mountain bike
    "motorcycle": (("motorcycle", "motorbike"), (665, 670)),  # moped, motor scooter
    "car": (("car", "cars"), (436, 468, 511, 609, 627, 656, 751, 817)),  # beach wagon .. sports car
    "bus": (("bus",), (654, 779, 874)),  # minibus, school bus, trolleybus
    "truck": (("truck",), (569, 675, 717, 864, 867)),  # garbage truck .. trailer truck
    "train": (("train",), (466, 547, 820)),  # bullet train, electric and steam locomotives
    "boat": (("boat", "boats", "canoe", "kayak"), (472, 484, 554, 576, 625, 814, 871, 914)),  # canoe .. yawl
    "umbrella": (("umbrella",), (879,)),
    "guitar": (("guitar",), (402, 546)),  # acoustic and electric guitars
    "cup": (("cup", "mug", "coffee"), (504, 967, 968)),  # coffee mug, espresso, cup
    "pizza": (("pizza",), (963,)),
}


class Guide:
    """`constraints(pixels)`: per photo (uint8 RGB, any size), the token ids of which its
    caption must contain one, or () where the ImageNet classifier names nothing of WORDS
    with a summed probability of at least `threshold`; and those it must not contain."""

    def __init__(self, vocab: Vocabulary, threshold: float):
        from dlkit.vision import imagenet

        self.graph, self.threshold = imagenet.graph("mobilenet_v2"), threshold
        self.size = int(self.graph.metadata["input_size"])
        known = {word: forms for word, (forms, _) in WORDS.items() if any(f in vocab.ids for f in forms)}
        self.words = list(known)
        self.tokens = [tuple(vocab.ids[f] for f in known[w] if f in vocab.ids) for w in self.words]
        self.classes = np.zeros((len(self.graph.metadata["labels"]), len(self.words)), np.float32)
        for column, word in enumerate(self.words):
            self.classes[list(WORDS[word][1]), column] = 1

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        """[photos, words]: each word's summed class probability."""
        if pixels.shape[1:3] != (self.size, self.size):
            pixels = np.stack([np.asarray(Image.fromarray(p).resize((self.size, self.size), Image.BILINEAR))
                               for p in pixels])
        return self.graph.run(pixels)[0] @ self.classes

    def constraints(self, pixels: np.ndarray) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
        """(required, avoided): per photo, the token ids of which its caption must contain
        one, and those it must not contain (none for a photo nothing is required of)."""
        required, avoided = [], []
        if not self.words:
            return [()] * len(pixels), [()] * len(pixels)
        for found in self.probabilities(pixels):
            best = int(found.argmax())
            asked = found[best] >= self.threshold
            required.append(self.tokens[best] if asked else ())
            avoided.append(tuple(t for w, p in enumerate(found) if asked and p < AVOID_BELOW for t in self.tokens[w]))
        return required, avoided
