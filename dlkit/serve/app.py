"""The HTTP face of the task predictors (FastAPI).

    from dlkit.serve.app import create_app
    app = create_app({"sentiment": sentiment.load()}, ServeConfig())   # an ASGI app

Routes: POST /api/<task> for each served task (images as multipart uploads in the
field "files", texts as JSON {"texts": [...]}), answering {"records": [...]} with the
same records as the command of the same name; GET /health (the tasks, their models'
batching counts); GET / (a page to try them); GET /docs (the API, from /openapi.json,
on a page of this server: nothing is fetched from elsewhere). A request that breaks a
limit or is not what the task reads is refused whole with a 4xx and a JSON
{"error": "..."}: 400 unreadable JSON, 404 no such task, 405 another method (with
Allow), 413 over a limit, 415 another content type, 422 missing or empty fields, 504 no
answer in time. An item that cannot be used (a file that is no image, a truncated JPEG,
a text that is not Unicode, one a model fails on) is an error record among the others,
as in the CLI. The body limit counts the bytes received, whatever the transfer
encoding, so a chunked upload is stopped at the limit, not spooled whole first.
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
from dlkit.core.errors import DlkitError
from dlkit.core.inputs import Item, shown, text_item
from dlkit.core.records import json_line
from dlkit.serve.batching import Batcher
from dlkit.serve.limits import ServeConfig
from dlkit.serve.models import SERVED
from dlkit.vision.images import unreadable

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
# Uploads are copied to disk in pieces of this size, so a large one is never whole in memory.
CHUNK = 1 << 20


class Refused(Exception):
    """A request the server will not answer: an HTTP status and one line."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Error(BaseModel):
    error: str = Field(..., description="What is wrong, in one line, naming the item.")


def _texts_model(config: ServeConfig) -> type[BaseModel]:
    """The JSON body of a text task, with this server's limits in its schema (checked by
    the route, which answers 413 for a limit and 422 for an empty text)."""

    class Texts(BaseModel):
        texts: list[str] = Field(..., description=f"The texts, one record each, in order: 1 to {config.max_items} "
                                                  f"(--max-items), each up to {config.max_text_chars:,} characters "
                                                  f"(--max-text-chars) and not blank.",
                                 examples=[["What a wonderful film.", "I am hungry."]],
                                 json_schema_extra={"minItems": 1, "maxItems": config.max_items,
                                                    "items": {"type": "string", "minLength": 1,
                                                              "maxLength": config.max_text_chars}})

    return Texts


def _answers(config: ServeConfig, kind: str) -> dict:
    """The error answers of a task's route, for the OpenAPI document."""
    limits = (f"Over a limit: the body over {config.max_upload_mb:g} MB (--max-upload-mb), more than "
              f"{config.max_items} items (--max-items), "
              + (f"an image over {config.max_pixels:,} pixels (--max-pixels)" if kind == "image" else
                 f"a text over {config.max_text_chars:,} characters (--max-text-chars)"))
    media = "multipart/form-data" if kind == "image" else "application/json"
    return {status: {"model": Error, "description": description} for status, description in {
        400: "The body is not readable (JSON that does not parse, a broken multipart body).",
        413: limits + ".",
        415: f"The body is not {media}.",
        422: "A required field is missing or empty: " + ("no files." if kind == "image" else "no text, a blank one."),
        504: f"No answer within {config.timeout:g} s (--timeout).",
    }.items()}


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

    app = FastAPI(title="dlkit", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="dlkit's models over HTTP: the records of the commands of the same names. "
                              f"Limits: a request body of at most {config.max_upload_mb:g} MB, however it is "
                              f"sent; at most {config.max_items} texts or images a request; texts of at most "
                              f"{config.max_text_chars:,} characters; images of at most {config.max_pixels:,} "
                              f"pixels; an answer within {config.timeout:g} s. An item that cannot be used is "
                              "an error record {\"input\", \"error\"} among the others.")
    app.state.batchers = batchers
    max_bytes = int(config.max_upload_mb * 1_000_000)
    media = {f"/api/{name}": "multipart/form-data" if SERVED[name].kind == "image" else "application/json"
             for name in batchers}
    app.add_middleware(BodyLimit, max_bytes=max_bytes, max_upload_mb=config.max_upload_mb, media=media)

    @app.exception_handler(Refused)
    async def refused(request: Request, e: Refused):
        return _error(e.status, str(e))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException):
        return _error(e.status_code, str(e.detail), e.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError):
        first = e.errors()[0] if e.errors() else {}
        if first.get("type") == "json_invalid":
            return _error(400, f"the body is not JSON ({first.get('ctx', {}).get('error', 'it does not parse')})")
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return _error(422, f"{where or 'request'}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(Exception)
    async def failed(request: Request, e: Exception):
        # A JSON line like every other answer, no traceback in it; this request alone fails.
        return _error(500, str(e) if isinstance(e, DlkitError) else f"internal error ({type(e).__name__})")

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(os.path.join(STATIC, "index.html"))

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return FileResponse(os.path.join(STATIC, "docs.html"))

    @app.get("/health", summary="The served tasks and how their requests were batched.")
    async def health():
        return {"status": "ok", "version": __version__,
                "tasks": {name: {"kind": SERVED[name].kind, "summary": SERVED[name].summary, **b.stats()}
                          for name, b in batchers.items()}}

    texts = _texts_model(config)
    for name in batchers:
        if SERVED[name].kind == "image":
            _image_route(app, name, batchers[name], config)
        else:
            _text_route(app, name, batchers[name], config, texts)

    @app.api_route("/api/{task}", methods=METHODS, include_in_schema=False)
    async def unknown(task: str):
        if task in batchers:  # its POST route did not match: another method
            raise HTTPException(405, f"/api/{task} answers POST only", headers={"Allow": "POST"})
        raise Refused(404, f"unknown task {shown(task)!r}; this server answers "
                           f"{', '.join(batchers) or 'no task'}")

    return app


# Every method: on a served task, all but POST get 405 (with Allow); on an unknown one, 404.
METHODS = ["GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS", "POST"]


class _TooLarge(Exception):
    """Raised into the app when the body received passes the limit: it stops reading."""


class BodyLimit:
    """Refuses a request over the body limit: at once from a Content-Length header, else
    by counting the bytes as they are received (a chunked body), so that no more than
    the limit is ever read, spooled or parsed; and a task's request whose content type
    is not the one it reads (415), before its body is read. A plain ASGI middleware:
    Starlette's `@app.middleware("http")` wraps every request in extra tasks and
    streams, which cost more than a sentiment prediction."""

    def __init__(self, app, max_bytes: int, max_upload_mb: float, media: dict[str, str]):
        self.app, self.max_bytes, self.max_upload_mb, self.media = app, max_bytes, max_upload_mb, media

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            return await self._too_large(f"request body of {int(length):,} bytes")(scope, receive, send)
        wanted = self.media.get(scope["path"])
        given = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
        if wanted and scope["method"] == "POST" and given != wanted:
            return await _error(415, f"{scope['path']} reads {wanted}, not {shown(given) or 'a body without a type'}"
                                )(scope, receive, send)
        received, over, started = 0, False, False

        async def counted():
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    over = True
                    raise _TooLarge
            return message

        async def answer(message):
            nonlocal started
            if over and not started:
                return  # what the app made of the stopped body is dropped: the answer is the 413
            started = True
            await send(message)

        try:
            await self.app(scope, counted, answer)
        except _TooLarge:
            pass
        if over and not started:
            await self._too_large(f"request body of more than {self.max_bytes:,} bytes")(scope, receive, send)

    def _too_large(self, what: str) -> Response:
        return _error(413, f"{what} is over the limit of {self.max_bytes:,} (--max-upload-mb {self.max_upload_mb:g})",
                      {"Connection": "close"})


def _predict_all(predictor):
    def predict(items: list) -> list[dict]:
        return list(predictor.predict(items, idle=None))  # the whole batch is here: no waiting

    return predict


def _image_route(app: FastAPI, name: str, batcher: Batcher, config: ServeConfig) -> None:
    async def route(files: list[UploadFile] = File(..., description=f"Photos (JPEG, PNG, ...): 1 to "
                                                    f"{config.max_items} (--max-items), each up to "
                                                    f"{config.max_pixels:,} pixels (--max-pixels).")):
        if len(files) > config.max_items:
            raise Refused(413, f"{len(files)} files; at most {config.max_items} per request (--max-items)")
        folder = tempfile.mkdtemp(prefix="dlkit-serve-")
        try:
            items = [await _saved(upload, i, folder, config) for i, upload in enumerate(files)]
            records = await _answer(batcher, items, config)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return _records([_png(r) for r in records])

    route.__name__ = name.replace("-", "_")
    app.post(f"/api/{name}", summary=SERVED[name].summary, tags=["images"], responses=_answers(config, "image"),
             response_model=None)(route)


def _text_route(app: FastAPI, name: str, batcher: Batcher, config: ServeConfig, texts: type[BaseModel]) -> None:
    async def route(body: texts):
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
        # A text that is not Unicode (JSON's lone surrogates) is its own error record: it never
        # reaches a tokenizer, where it would fail the requests batched with it.
        return _records(await _answer(batcher, [text_item(t) for t in body.texts], config))

    route.__name__ = name.replace("-", "_")
    app.post(f"/api/{name}", summary=SERVED[name].summary, tags=["texts"], responses=_answers(config, "text"),
             response_model=None)(route)


async def _saved(upload: UploadFile, index: int, folder: str, config: ServeConfig) -> Item:
    """The upload on disk as an Item named by its file name; an error Item when it is
    empty or no image (the others go on); refused when its pixels are over the limit.
    The body limit (BodyLimit) has bounded its size already."""
    name = shown(os.path.basename(upload.filename or "") or f"upload-{index}")
    # The index keeps two uploads of the same name apart; the suffix helps no reader but a human.
    path = os.path.join(folder, f"{index}{os.path.splitext(name)[1][:10]}")
    size = 0
    with open(path, "wb") as out:
        while chunk := await upload.read(CHUNK):
            size += len(chunk)
            out.write(chunk)
    if size == 0:
        return Item(name, path, "empty file")
    try:
        with Image.open(path) as im:  # reads the header only
            width, height = im.size
    except Image.DecompressionBombError:
        raise Refused(413, f"{name}: image too large (possible decompression bomb)") from None
    except UnidentifiedImageError:
        return Item(name, path, "not an image (unrecognised file format)")
    except Exception as e:  # whatever a decoder raises on a crafted header is this item's error
        return Item(name, path, unreadable(e))
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


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)
