import click

from dlkit.cli.common import device_option, events, handle_errors, start_light
from dlkit.core.config import from_params, options
from dlkit.core.errors import DlkitError
from dlkit.serve.limits import ServeConfig
from dlkit.serve.models import DEFAULT_TASKS, SERVED


def _model_paths(values: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for value in values:
        task, sep, path = value.partition("=")
        if not sep or not task or not path:
            raise DlkitError(f"--model {value}: expected TASK=PATH, e.g. --model stylize=starry.keras")
        found[task.strip()] = path
    return found


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 exposes the models to the network.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--tasks", default=",".join(DEFAULT_TASKS), show_default=True,
              help=f"Comma-separated tasks to serve, of: {', '.join(SERVED)}.")
@click.option("--model", "models", multiple=True, metavar="TASK=PATH",
              help="A task's model (repeatable); stylize and predict-svm need one.")
@options(ServeConfig)
@device_option
@click.option("-q", "--quiet", is_flag=True, help="No messages on stderr.")
@click.option("--verbose", is_flag=True, help="Let TensorFlow's own log messages through.")
@handle_errors
def serve(host, port, tasks, models, device, quiet, verbose, **params):
    """Serve the models over HTTP, with a web page to try them.

    Each task is POST /api/TASK: photos as multipart uploads (field "files"), texts as
    JSON {"texts": [...]}; the answer is {"records": [...]}, the records of the command
    of the same name. Concurrent requests to a model are answered by one batched call.
    Requests that break a limit are refused with a 4xx and {"error": "..."}. The page
    is at /, the API documentation at /docs, GET /health lists the tasks. Needs
    `pip install 'dlkit[serve]'`.

    \b
    Examples:
      dlkit serve                                    # http://127.0.0.1:8000/
      dlkit serve --tasks sentiment,translate --port 9000
      dlkit serve --tasks classify,stylize --model stylize=starry.keras
      curl -F files=@cat.jpg localhost:8000/api/classify
      curl -H 'Content-Type: application/json' -d '{"texts": ["I am hungry."]}' localhost:8000/api/translate
    """
    from dlkit.serve import models as served, server

    server.require_extra()
    config = from_params(ServeConfig, params)
    chosen = tuple(dict.fromkeys(t.strip() for t in tasks.split(",") if t.strip()))
    paths = _model_paths(models)
    served.check_tasks(chosen, paths)  # before any model loads
    report = events(quiet)
    if server.public(host):
        report.warning(f"listening on {host}: anyone who can reach this machine can use the models")
    start_light(device)
    server.serve(host, port, chosen, paths, config, report)
