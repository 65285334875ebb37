"""What one request may ask of the server, and how requests are batched: the settings
of `dlkit serve` (each is an option, generated from the field). No TensorFlow here."""

from dataclasses import dataclass

from dlkit.core.config import setting


@dataclass
class ServeConfig:
    # 10 MB holds a 24-megapixel JPEG; anything bigger is more likely a mistake or an
    # attack than a photo to label, and is refused before it is read.
    max_upload_mb: float = setting(10.0, "Largest request body (all uploads together), in MB.", min=0,
                                   min_open=True)
    # 40 megapixels: a large camera photo; the decoded RGB array is then ~120 MB.
    max_pixels: int = setting(40_000_000, "Largest image, in pixels (width x height).", min=1)
    # Far beyond a sentence or a news article; the models read only the first words anyway.
    max_text_chars: int = setting(10_000, "Longest text, in characters.", min=1)
    max_items: int = setting(64, "Most texts or images in one request.", min=1)
    # Long enough for a cold model's first batch (graph tracing) on a small CPU.
    timeout: float = setting(60.0, "Seconds a request may wait for its answer before a 504.", min=0, min_open=True)
    # Requests arriving within this many milliseconds of each other share one model call;
    # a few ms cost a lone request little and let concurrent ones batch.
    batch_wait_ms: float = setting(5.0, "Milliseconds a batch waits for more requests.", min=0)
    # None: each model's own batch size (32 photos, 256 texts for sentiment), the size
    # its command answers in; a smaller cap leaves a busy server's batches short.
    max_batch: int | None = setting(None, "Most items in one model call [default: the model's batch size].",
                                    min=1)
