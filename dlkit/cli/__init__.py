"""The `dlkit` command: a thin face over the library.

Commands come from the task packages (dlkit.tasks) and are imported only when run, so that
`dlkit --help` answers at once, without loading TensorFlow.
"""

import importlib
import os
import sys

import click

from dlkit import __version__

# dlkit's own commands, beside those the tasks declare (dlkit.tasks.TASKS).
BUILTIN = {
    "quantize": "Store a model's Dense, Embedding and attention weights as int8: a smaller file to ship.",
    "info": "Show versions, devices and where weights are cached.",
    "serve": "Serve the models over HTTP (JSON API, dynamic batching, a web page to try them).",
    "export": "Export a model as a SavedModel, LiteRT (tflite) or ONNX file, checked against Keras.",
}


def command_table() -> dict[str, tuple[object, str, str]]:
    """{name: (task or None, module or "verbs", summary)}: read from the task
    descriptions, which import no TensorFlow."""
    from dlkit import tasks

    found = tasks.commands()
    found.update({name: (None, f"dlkit.cli.{name}", summary) for name, summary in BUILTIN.items()})
    return found


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return list(command_table())

    def get_command(self, ctx, name):
        commands = command_table()
        if name not in commands:
            return None
        task, source, _ = commands[name]
        if source == "verbs":  # a standard command, made from the task's description
            from dlkit.cli.verbs import command

            return command(task, name)
        return getattr(importlib.import_module(source), name.replace("-", "_"))

    def resolve_command(self, ctx, args):
        # TensorFlow is imported with the command's module, before the command's own
        # options are parsed; --verbose must be known by then to let its start-up through.
        if "--verbose" in args:
            os.environ["DLKIT_VERBOSE"] = "1"
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx, formatter):
        rows = [(name, summary) for name, (_, _, summary) in command_table().items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dlkit")
def cli():
    """Classic deep-learning models for vision and language, from the shell.

    \b
    Examples:
      dlkit classify holiday/*.jpg
      find photos -name '*.jpg' | dlkit classify - > labels.jsonl

    Results go to stdout (a table in a terminal, JSON Lines otherwise); progress and
    messages go to stderr. `dlkit COMMAND --help` describes each command.
    """


def main():
    """The `dlkit` program: Click's own handling, except that Ctrl-C and SIGTERM, even
    during start-up, stop with one line and exit 130 / 143 (not "Aborted!" and 1)."""
    from dlkit.cli.common import stop_cleanly

    def run():
        try:
            code = cli.main(prog_name="dlkit", standalone_mode=False)
        except click.exceptions.Abort:
            raise KeyboardInterrupt from None
        except click.ClickException as e:
            e.show()
            sys.exit(e.exit_code)
        sys.exit(code if isinstance(code, int) else 0)

    try:
        stop_cleanly(run)
    except SystemExit as e:
        from dlkit.core import inputs
        from dlkit.cli.common import EXIT_INTERRUPTED, EXIT_TERMINATED

        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if code not in (EXIT_INTERRUPTED, EXIT_TERMINATED) and not inputs.reading():
            raise
        # Stopped by a signal, or while stdin is still open: everything is written, and
        # Python's own shutdown could now wait forever (on a reader's lock on stdin, on a
        # data-pipeline thread stopped mid-image): leave at once.
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(code)
