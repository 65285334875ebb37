"""The layering the package promises: shared code never reaches up into a task, tasks
never reach into each other, and the command line answers --help without TensorFlow."""

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "dlkit"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every dlkit module a file imports, at the top or inside functions."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # from dlkit import x
    return {name for name in found if name == "dlkit" or name.startswith("dlkit.")}


def _layer(module: str) -> str:
    """core, vision, text, engines, task:<name>, cli, or top (dlkit itself and the registry)."""
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in ("core", "vision", "text", "engines", "cli"):
        return parts[1]
    if len(parts) >= 3 and parts[1] == "tasks":
        return f"task:{parts[2]}"
    return "top"


ALLOWED = {
    "core": {"core", "top"},
    "vision": {"core", "vision", "top"},
    "text": {"core", "text", "top"},
    "engines": {"core", "vision", "text", "engines", "top"},  # ways to run predictors: no CLI, no task
}


def _violations() -> list[str]:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _layer(_module_name(path))
        for target in sorted(_imports(path)):
            layer = _layer(target)
            if target == "dlkit" or (layer == "top" and target not in ("dlkit", "dlkit.tasks")):
                continue  # dlkit.__version__
            if source in ALLOWED and layer not in ALLOWED[source]:
                problems.append(f"{_module_name(path)} (shared, {source}) imports {target}")
            if source.startswith("task:") and layer.startswith("task:") and layer != source:
                problems.append(f"{_module_name(path)} imports another task: {target}")
            if source.startswith("task:") and target == "dlkit.tasks":
                problems.append(f"{_module_name(path)} imports the task registry")
            if source.startswith("task:") and layer == "cli" and path.name != "cli.py":
                problems.append(f"{_module_name(path)} (task library) imports the command line: {target}")
            if source in ALLOWED and target == "dlkit.tasks":
                problems.append(f"{_module_name(path)} (shared) imports the task registry")
    return problems


def test_shared_code_imports_no_task_and_no_task_imports_another():
    assert _violations() == []


def _circles() -> list[str]:
    """Import circles among dlkit's modules (imports inside functions count: a circle
    works only as long as every import on it stays lazy)."""
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    edges = {}
    for module, path in modules.items():
        # "from dlkit.x import name" names a module, or a name in module dlkit.x
        edges[module] = {t if t in modules else t.rsplit(".", 1)[0] for t in _imports(path)} & set(modules)
        edges[module] -= {module, "dlkit"}
    found, state = [], {}

    def visit(module, trail):
        state[module] = "open"
        for target in sorted(edges[module]):
            if state.get(target) == "open":
                found.append(" -> ".join(trail[trail.index(target):] + [target]))
            elif target not in state:
                visit(target, trail + [target])
        state[module] = "done"

    for module in sorted(modules):
        if module not in state:
            visit(module, [module])
    return found


def test_no_module_imports_itself_through_others():
    assert _circles() == []


def test_the_import_check_sees_a_violation(tmp_path, monkeypatch):
    """The check itself works: a shared module importing a task is reported."""
    fake = tmp_path / "dlkit"
    (fake / "core").mkdir(parents=True)
    (fake / "tasks" / "a").mkdir(parents=True)
    (fake / "core" / "bad.py").write_text("def f():\n    from dlkit.tasks.a import model\n")
    (fake / "tasks" / "a" / "model.py").write_text("from ...tasks.b import thing\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    found = _violations()
    assert any("dlkit.core.bad" in p and "dlkit.tasks.a" in p for p in found)
    assert any("another task" in p and "dlkit.tasks.b" in p for p in found)


HELP_PROBE = """
import json, sys
from click.testing import CliRunner
from dlkit.cli import cli, command_table
heavy = ("tensorflow", "keras")
checked = []
import click
context = click.Context(cli)
groups = {name: cli.get_command(context, name) for name in command_table()}
subcommands = [[name, sub, "--help"] for name, group in groups.items() if isinstance(group, click.Group)
               for sub in group.list_commands(context)]
for args in [["--help"]] + [[name, "--help"] for name in command_table()] + subcommands:
    result = CliRunner().invoke(cli, args)
    loaded = [m for m in heavy if m in sys.modules]
    checked.append({"args": args, "exit": result.exit_code, "heavy": loaded, "examples": "Example" in result.output})
    if loaded:
        break
print(json.dumps(checked))
"""


def test_every_help_answers_without_tensorflow():
    out = subprocess.run([sys.executable, "-c", HELP_PROBE], capture_output=True, text=True, check=True).stdout
    checked = json.loads(out.strip().splitlines()[-1])
    assert [c for c in checked if c["heavy"] or c["exit"] != 0] == []
    names = [c["args"][0] for c in checked]
    assert {"--help", "word2vec", "stylize", "classify", "translate", "visualize"} <= set(names)
    args = [c["args"] for c in checked]
    assert ["word2vec", "train", "--help"] in args and ["visualize", "saliency", "--help"] in args
    # every command's help shows examples
    assert [c["args"] for c in checked if c["args"] != ["--help"] and not c["examples"]] == []


def test_adding_a_field_to_a_task_config_adds_its_option():
    """Options are generated from the Config: a new field is a new option of the task's
    train command, parsed into the Config, with nothing else written."""
    import dataclasses

    from click.testing import CliRunner

    from dlkit.cli.verbs import train_command
    from dlkit.core.config import setting
    from dlkit.tasks.sentiment import TASK, Config

    fields = {f.name for f in dataclasses.fields(Config) if f.metadata.get("cli", True)}
    options = {p.name for p in train_command(TASK).params}
    assert fields <= options  # every setting of the Config is an option today

    extended = dataclasses.make_dataclass(
        "Config", [("warmup_epochs", int, setting(2, "Epochs of learning-rate warm-up.", min=0))], bases=(Config,))
    command = train_command(dataclasses.replace(TASK, config=extended))
    help_text = CliRunner().invoke(command, ["--help"]).output
    assert "--warmup-epochs" in help_text and "Epochs of learning-rate warm-up." in help_text
    assert "warmup_epochs" in {p.name for p in command.params}
