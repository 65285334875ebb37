"""The captioner's settings, with why each default is what it is. No TensorFlow here:
the commands' options are made from these fields."""

from dataclasses import dataclass

from dlkit.core.config import setting

MONITORS = ("bleu4", "loss")


@dataclass
class Config:
    # MobileNetV2's last block: a 7x7 grid of 1280 features at 224 px, cheap on a CPU.
    backbone: str = setting("mobilenet_v2", "Frozen ImageNet encoder.")
    image_size: int = setting(224, min=32, cli=False)
    # Soft attention over the feature grid; without it the pooled vector starts the LSTM.
    attention: bool = setting(True, "Soft attention over the feature grid (Show, Attend and Tell).")
    # Words seen fewer times are <unk>: Flickr8k's long tail is mostly typos and names.
    min_count: int = setting(5, "Rarer words become <unk>.", min=1)
    # Words per caption, with the end token; longer ones are cut.
    max_length: int = setting(22, "Words per caption, with the end token; longer ones are cut.", min=4)
    embedding_dim: int = setting(256, "Word embedding size.", min=4)
    units: int = setting(512, "LSTM units.", min=4)
    # Flickr8k's 6,000 training images are learnt by heart within a few epochs: heavy dropout.
    dropout: float = setting(0.5, "Dropout on the image features and the LSTM's output.", min=0, max=0.9)
    # Show, Attend and Tell's "doubly stochastic" penalty, weight * mean((1 - sum over the
    # caption's words of each region's attention)^2): spreads attention over the image
    # instead of staring at one region for every word. 0 turns it off.
    coverage: float = setting(1.0, "Weight of the penalty that spreads attention over the image (0: off).", min=0)
    batch_size: int = setting(64, "Captions per training step.", min=1, flags=("-b", "--batch-size"))
    epochs: int = setting(20, "Most epochs to train.", min=1)
    learning_rate: float = setting(1e-3, "Adam's learning rate.", min=0, min_open=True, aliases=("--lr",))
    # What picks the best epoch, stops training and halves the learning rate: bleu4
    # (greedy captions of the validation images, the figure captioners are judged by) or
    # the validation loss.
    monitor: str = setting("bleu4", "Validation figure that keeps the best epoch, stops training and halves "
                           "the learning rate.", choices=MONITORS)
    lr_patience: int = setting(1, "Epochs without a better --monitor figure before the learning rate halves.",
                               min=1)
    beam_size: int = setting(3, "1: greedy decoding.", min=1)
    # Flickr8k has 70 captions with "cat" against 9,461 with "dog": trained on it, the decoder
    # calls cats dogs, while the ImageNet classifier tells them apart. Guided, a caption must
    # name the class group that classifier is confident of (dlkit.tasks.captioner.guide;
    # constrained beam search). Off: the decoder's own words, as trained.
    guide: bool = setting(True, "Make each caption name what the ImageNet classifier is confident of (a dog, a cat, "
                          "a bicycle, ...) by constrained beam search; --no-guide: the decoder's words alone.")
    # The summed probability of a word's ImageNet classes (the most probable word of the
    # table) that makes the caption name it. Measured on 250 cat and 250 dog photos
    # (tasks/captioner/README.md): at 0.2, 81% of cats are named "cat" (76% at 0.3, 64% at
    # 0.5) and no dog is called a cat; Flickr8k test BLEU-4 is unchanged.
    guide_threshold: float = setting(0.2, "Summed ImageNet probability of a word's classes from which the caption "
                                     "must name it.", min=0, max=1, min_open=True)
    # GNMT length normalization (see dlkit.core.decoding): without it beams favour short captions.
    length_alpha: float = setting(0.6, min=0, cli=False)
    # Shares of images held out for validation and for evaluate-captioner's test split
    # when the dataset has no split files (Flickr8k as on Kaggle): by a hash of each image
    # name, so evaluation finds the very images training left out.
    val_fraction: float = setting(0.1, min=0, max=0.5, cli=False)
    test_fraction: float = setting(0.1, min=0, max=0.4, cli=False)
    # Set from --seed (0 without it), so that a model folder records how it was made.
    seed: int = setting(0, cli=False)


@dataclass
class TrainData:
    # Features of a dataset's photos are computed once and reused by every later run.
    cache_dir: str | None = setting(None, "Where image features are cached [default: $DLKIT_CACHE or "
                                    "~/.cache/dlkit].")


@dataclass
class AttentionMap:
    # One picture per word of one caption: more images would need a picture each.
    attention_map: str | None = setting(None, "Draw, for each word, where the model looked (PNG; one image "
                                        "only).", output=(".png",))


@dataclass
class EvaluateConfig:
    # The test split is what published captioners report on.
    split: str = setting("test", choices=("test", "val", "train"))
    samples: int = setting(5, "Example captions to show.", min=0)
