"""The HTTP face of the task predictors (FastAPI).

    from dlkit.serve.app import create_app
    app = create_app({"sentiment": sentiment.load()}, ServeConfig())   # an ASGI app

Routes: POST /api/<task> for each served task (images as multipart uploads in the
field "files", texts as JSON {"texts": [...]}), answering {"records": [...]} with the
same records as the command of the same name; GET /health (the tasks, their models'
batching counts); GET / (a page to try them); GET /docs (OpenAPI). A request that breaks
a limit, or is not what the task reads, is refused whole with a 4xx and a JSON
{"error": "..."} naming the item; an item the model itself cannot use (a truncated
JPEG) is an error record among the others, as in the CLI.
"""

import asyncio
import base64
import contextlib
import io
import os
import shutil
import tempfile
from concurrent.futures import Future
from typing import Any

import numpy as np
from fastapi import FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from dlkit import __version__
from dlkit.core.inputs import Item, shown
from dlkit.core.records import json_line
from dlkit.serve.batching import Batcher
from dlkit.serve.limits import ServeConfig
from dlkit.serve.models import SERVED

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
# Uploads are copied to disk in pieces of this size, so a large one is never whole in memory.
CHUNK = 1 << 20


class Refused(Exception):
    """A request the server will not answer: an HTTP status and one line."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Texts(BaseModel):
    texts: list[str] = Field(..., description="The texts, one record each, in order.",
                             examples=[["What a wonderful film.", "I am hungry."]])


def create_app(predictors: dict[str, Any], config: ServeConfig | None = None) -> FastAPI:
    """An app serving `predictors` ({task name: loaded Predictor}); each gets a Batcher."""
    config = config or ServeConfig()
    batchers = {name: Batcher(name, _predict_all(predictor), config.max_batch or predictor.batch_size,
                              config.batch_wait_ms / 1000)
                for name, predictor in predictors.items()}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        for batcher in batchers.values():
            batcher.close()

    app = FastAPI(title="dlkit", version=__version__, lifespan=lifespan,
                  description="dlkit's models over HTTP: the records of the commands of the same names.")
    app.state.batchers = batchers
    max_bytes = int(config.max_upload_mb * 1_000_000)

    app.add_middleware(BodyLimit, max_bytes=max_bytes, max_upload_mb=config.max_upload_mb)

    @app.exception_handler(Refused)
    async def refused(request: Request, e: Refused):
        return _error(e.status, str(e))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException):
        return _error(e.status_code, str(e.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError):
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return _error(422, f"{where or 'request'}: {first.get('msg', 'invalid request')}")

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(os.path.join(STATIC, "index.html"))

    @app.get("/health", summary="The served tasks and how their requests were batched.")
    async def health():
        return {"status": "ok", "version": __version__,
                "tasks": {name: {"kind": SERVED[name].kind, "summary": SERVED[name].summary, **b.stats()}
                          for name, b in batchers.items()}}

    for name in batchers:
        if SERVED[name].kind == "image":
            _image_route(app, name, batchers[name], config, max_bytes)
        else:
            _text_route(app, name, batchers[name], config)

    @app.api_route("/api/{task}", methods=["GET", "POST"], include_in_schema=False)
    async def unknown(task: str):
        raise Refused(404, f"unknown task {shown(task)!r}; this server answers "
                           f"{', '.join(batchers) or 'no task'}")

    return app


class BodyLimit:
    """Refuses a request whose Content-Length is over the limit, from the header, before
    the body is read; a body sent without a length (chunked) is checked upload by upload
    as it is copied to disk (_saved). A plain ASGI middleware: Starlette's
    `@app.middleware("http")` wraps every request in extra tasks and streams, which cost
    more than a sentiment prediction."""

    def __init__(self, app, max_bytes: int, max_upload_mb: float):
        self.app, self.max_bytes, self.max_upload_mb = app, max_bytes, max_upload_mb

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length", b"")
            if length.isdigit() and int(length) > self.max_bytes:
                response = _error(413, f"request body of {int(length):,} bytes is over the limit of "
                                       f"{self.max_bytes:,} (--max-upload-mb {self.max_upload_mb:g})")
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


def _predict_all(predictor):
    def predict(items: list) -> list[dict]:
        return list(predictor.predict(items, idle=None))  # the whole batch is here: no waiting

    return predict


def _image_route(app: FastAPI, name: str, batcher: Batcher, config: ServeConfig, max_bytes: int) -> None:
    async def route(files: list[UploadFile] = File(..., description="Photos (JPEG, PNG, ...).")):
        if len(files) > config.max_items:
            raise Refused(413, f"{len(files)} files; at most {config.max_items} per request (--max-items)")
        folder = tempfile.mkdtemp(prefix="dlkit-serve-")
        try:
            items = [await _saved(upload, i, folder, config, max_bytes) for i, upload in enumerate(files)]
            records = await _answer(batcher, items, config)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return _records([_png(r) for r in records])

    route.__name__ = name.replace("-", "_")
    app.post(f"/api/{name}", summary=SERVED[name].summary, tags=["images"])(route)


def _text_route(app: FastAPI, name: str, batcher: Batcher, config: ServeConfig) -> None:
    async def route(body: Texts):
        if not body.texts:
            raise Refused(422, "texts: no text given")
        if len(body.texts) > config.max_items:
            raise Refused(413, f"{len(body.texts)} texts; at most {config.max_items} per request (--max-items)")
        for i, text in enumerate(body.texts):
            if not text.strip():
                raise Refused(422, f"texts[{i}] is empty")
            if len(text) > config.max_text_chars:
                raise Refused(413, f"texts[{i}] has {len(text):,} characters; the limit is "
                                   f"{config.max_text_chars:,} (--max-text-chars)")
        return _records(await _answer(batcher, [Item(shown(t), t) for t in body.texts], config))

    route.__name__ = name.replace("-", "_")
    app.post(f"/api/{name}", summary=SERVED[name].summary, tags=["texts"])(route)


async def _saved(upload: UploadFile, index: int, folder: str, config: ServeConfig, max_bytes: int) -> Item:
    """The upload on disk as an Item named by its file name, once it is known to be an
    image within the limits (refused otherwise)."""
    name = shown(os.path.basename(upload.filename or "") or f"upload-{index}")
    # The index keeps two uploads of the same name apart; the suffix helps no reader but a human.
    path = os.path.join(folder, f"{index}{os.path.splitext(name)[1][:10]}")
    size = 0
    with open(path, "wb") as out:
        while chunk := await upload.read(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise Refused(413, f"{name}: over the upload limit of {max_bytes:,} bytes")
            out.write(chunk)
    if size == 0:
        raise Refused(422, f"{name}: empty file")
    try:
        with Image.open(path) as im:  # reads the header only
            width, height = im.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise Refused(415, f"{name}: not an image (unrecognised file format)") from None
    except Image.DecompressionBombError:
        raise Refused(413, f"{name}: image too large (possible decompression bomb)") from None
    if width * height > config.max_pixels:
        raise Refused(413, f"{name}: {width}x{height} pixels; the limit is {config.max_pixels:,} (--max-pixels)")
    return Item(name, path)


async def _answer(batcher: Batcher, items: list[Item], config: ServeConfig) -> list[dict]:
    future: Future = batcher.submit(items)
    try:
        return await asyncio.wait_for(asyncio.wrap_future(future), config.timeout)
    except asyncio.TimeoutError:
        future.cancel()  # still queued: it is dropped; already running: its answer is
        raise Refused(504, f"no answer within {config.timeout:g} s (--timeout)") from None


def _png(record: dict) -> dict:
    """A record holding a picture (a stylizer's "image" array) with it as a PNG data URL
    (JSON has no arrays of pixels a browser can show)."""
    if not isinstance(record.get("image"), np.ndarray):
        return record
    buffer = io.BytesIO()
    Image.fromarray(record["image"].clip(0, 255).astype("uint8")).save(buffer, "PNG")
    return {**record, "image": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")}


def _records(records: list[dict]) -> Response:
    # json_line: the CLI's own JSON (numpy values as numbers, NaN as null)
    return Response(json_line({"records": records}), media_type="application/json")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
