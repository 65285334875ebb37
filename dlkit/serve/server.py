"""Loading the served models once and running the app with uvicorn."""

import contextlib
import ipaddress
import threading
import time
from typing import Iterator

from dlkit.core.errors import DlkitError
from dlkit.core.events import SILENT, Events
from dlkit.serve import models
from dlkit.serve.limits import ServeConfig


def require_extra() -> None:
    """Stops with the install command when FastAPI or uvicorn is missing."""
    import importlib.util

    missing = [m for m in ("fastapi", "uvicorn", "multipart") if importlib.util.find_spec(m) is None]
    if missing:
        raise DlkitError(f"dlkit serve needs {', '.join(missing)}: pip install 'dlkit[serve]'")


def load_predictors(tasks: tuple[str, ...] = models.DEFAULT_TASKS, model_paths: dict[str, str] | None = None,
                    events: Events = SILENT) -> dict:
    """{task: Predictor}, each loaded once (a model named by two tasks is still loaded twice:
    they are different predictors)."""
    model_paths = model_paths or {}
    models.check_tasks(tasks, model_paths)
    found = {}
    with events.progress(len(tasks), "loading models") as advance:
        for name in tasks:
            found[name] = models.load(name, model_paths.get(name))
            advance()
    return found


def public(host: str) -> bool:
    """Whether binding `host` exposes the server beyond this machine."""
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host != "localhost"


def serve(host: str = "127.0.0.1", port: int = 8000, tasks: tuple[str, ...] = models.DEFAULT_TASKS,
          model_paths: dict[str, str] | None = None, config: ServeConfig | None = None,
          events: Events = SILENT) -> None:
    """Loads the models and answers requests until stopped (Ctrl-C, SIGTERM)."""
    require_extra()
    import uvicorn

    from dlkit.serve.app import create_app

    app = create_app(load_predictors(tasks, model_paths, events), config)
    events.message(f"serving {', '.join(tasks)} on http://{host}:{port}/ (API docs at /docs)")
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)


@contextlib.contextmanager
def background(app, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Runs `app` on a thread for the length of a `with` block; yields its URL. Port 0:
    a free port the system picks (tests, notebooks, benchmarks)."""
    require_extra()
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="dlkit-serve", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise DlkitError(f"the server did not start on {host}:{port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(30)
