"""The settings of `dlkit visualize`. No TensorFlow here: the commands' options are made
from them (each subcommand takes the fields it uses)."""

from dataclasses import dataclass

from dlkit.core.config import setting

SALIENCY_METHODS = ("gradcam", "gradient")
MAP_METHODS = ("tsne", "pca")


@dataclass
class Config:
    # Grad-CAM: coarse but class-discriminative (it follows the object, not the edges);
    # plain gradients are finer and noisier.
    method: str = setting("gradcam", "gradcam: class-weighted last feature maps; gradient: input gradients.",
                          choices=SALIENCY_METHODS)
    # Half the heat-map over the photo: both stay readable.
    alpha: float = setting(0.5, "How strongly the heat-map covers the photo.", min=0, max=1)
    # Eight maps per layer fit one row of a page and show the variety of a layer's features.
    channels: int = setting(8, "Feature maps shown per layer (the most active ones).", min=1, max=64)
    # t-SNE keeps neighbourhoods (clusters show); PCA is linear, fast, and keeps distances.
    map_method: str = setting("tsne", "tsne: neighbourhoods kept (clusters show); pca: linear, faster.",
                              choices=MAP_METHODS, flags=("--method",))
    # t-SNE's usual 30, lowered for small sets (it must stay below the number of points).
    perplexity: float = setting(30.0, "t-SNE perplexity (lowered automatically for small sets).",
                                min=1)
    # The same picture from the same features on every run.
    seed: int = setting(0, "Seed of t-SNE's random start.")
