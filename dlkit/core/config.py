"""Settings declared once: a task's Config dataclass is its defaults, its checks and its
command-line options.

    @dataclass
    class Config:
        # why this default (for whoever reads the code)
        units: int = setting(64, "Recurrent units per direction.", min=1)

`options(Config)` turns every field into a Click option (names, types, ranges, choices,
help and defaults from the field), `from_params(Config, params)` builds the Config back
from what Click parsed, and `validate(config)` applies the same ranges and choices to a
Config built in Python or read from a model folder's config.json. Click is imported only
by `options`; nothing here imports TensorFlow.
"""

import dataclasses
import math
import types
import typing
from typing import Any, Callable

from dlkit.core.errors import DlkitError


def setting(default: Any, help: str = "", *, flags: tuple[str, ...] = (), choices: tuple | None = None,
            min: float | None = None, max: float | None = None, min_open: bool = False,
            max_open: bool = False, path: str | None = None, cli: bool = True, show_default: bool | str = True,
            aliases: tuple[str, ...] = (), output: str | tuple[str, ...] | None = None,
            multiple: bool = False) -> Any:
    """A Config field with what its command-line option needs.

    flags: the option's names (default: --field-name; a bool gets --name/--no-name);
    choices, min, max (min_open / max_open: the bound itself is excluded): checked for the CLI and by
    validate(); path: "file", "dir" or "any" for a path that must exist, "model" for a
    model folder or "shipped" (the task checks it, as its load does); cli=False:
    a setting with no option (derived, or set by another option); aliases: old spellings
    of the option, still accepted (hidden from --help) with a one-line deprecation note;
    output: a path the command writes ("file", "dir", or the file suffixes it may have),
    checked before any work; multiple: a tuple setting given by repeating its option."""
    metadata = {"aliases": tuple(aliases), "output": output, "multiple": multiple, "help": help, "flags": tuple(flags), "choices": tuple(choices) if choices else None,
                "min": min, "max": max, "min_open": min_open, "max_open": max_open, "path": path, "cli": cli,
                "show_default": show_default}
    if isinstance(default, (list, dict, set)):
        raise TypeError("mutable defaults: use a tuple")
    return dataclasses.field(default=default, metadata=metadata)


def _hints(config_class: type) -> dict[str, Any]:
    return typing.get_type_hints(config_class)


def _base_type(hint: Any) -> tuple[Any, bool]:
    """(the type inside Optional, whether None is allowed)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(hint))
    return hint, False


def _is_tuple(hint: Any) -> bool:
    return typing.get_origin(hint) is tuple


def _parse_tuple(hint: Any, value: Any) -> tuple | None:
    """Comma-separated text (from the command line) to a tuple of the field's items."""
    if value is None or isinstance(value, tuple):
        return value
    item = (typing.get_args(hint) or (str,))[0]
    parts = [p.strip() for p in str(value).split(",") if p.strip()]
    try:
        return tuple(item(p) for p in parts)
    except ValueError:
        raise DlkitError(f"{value!r}: expected comma-separated {item.__name__} values") from None


def option_name(field: dataclasses.Field) -> str:
    """The long option a field gets (what messages should name)."""
    flags = [f for f in field.metadata.get("flags", ()) if f.startswith("--")]
    return flags[0].split("/")[0] if flags else "--" + field.name.replace("_", "-")


def options(config_class: type, only: tuple[str, ...] | None = None, exclude: tuple[str, ...] = (),
            defaults: dict[str, Any] | None = None) -> Callable:
    """A decorator adding one Click option per field of `config_class` (those in `only`,
    if given, less `exclude` and fields declared with cli=False), in field order.
    `defaults` overrides a field's default for this command only."""
    import click

    hints = _hints(config_class)
    chosen = [f for f in dataclasses.fields(config_class)
              if f.metadata.get("cli", True) and (only is None or f.name in only) and f.name not in exclude]

    def decorate(fn: Callable) -> Callable:
        for field in reversed(chosen):
            for alias in field.metadata.get("aliases", ()):
                fn = _alias(click, field, hints[field.name], alias)(fn)
            fn = _option(click, field, hints[field.name], (defaults or {}).get(field.name, field.default))(fn)
        return fn

    return decorate


def _option(click, field: dataclasses.Field, hint: Any, default: Any):
    meta = field.metadata
    base, optional = _base_type(hint)
    flags = list(meta.get("flags") or ())
    name = "--" + field.name.replace("_", "-")
    kwargs: dict[str, Any] = {"help": meta.get("help", ""), "default": default}
    if base is bool:
        # No flags: --name/--no-name; flags without a "/" (--resume): a plain on-switch.
        if not flags:
            flags = [f"{name}/--no-{name[2:]}"]
        elif not any("/" in f for f in flags):
            kwargs["is_flag"] = True
    else:
        flags = flags or [name]
        kwargs["type"] = _click_type(click, meta, base)
        if meta.get("multiple"):
            kwargs["multiple"] = True
        elif _is_tuple(base) and default is not None:
            kwargs["default"] = ",".join(map(str, default))
    kwargs["show_default"] = meta.get("show_default", True) if default is not None else False
    return click.option(*flags, field.name, **kwargs)


def _alias_key(field: dataclasses.Field, alias: str) -> str:
    return f"{field.name}__{alias.lstrip('-').replace('-', '_')}"


def _alias(click, field: dataclasses.Field, hint: Any, alias: str):
    """A hidden option under an old spelling, filling the same setting (see from_params)."""
    base, _ = _base_type(hint)
    new = option_name(field)

    def note(ctx, param, value):
        if value is not None:
            click.echo(f"{alias} is deprecated: use {new}", err=True)
        return value

    kwargs = {"is_flag": True, "default": None, "flag_value": True} if base is bool else {
        "type": _click_type(click, field.metadata, base), "default": None}
    return click.option(alias, _alias_key(field, alias), hidden=True, callback=note, expose_value=True, **kwargs)


def _click_type(click, meta: dict, base: Any):
    if meta.get("choices"):
        return click.Choice([str(c) for c in meta["choices"]])
    if meta.get("path") == "model":
        return click.Path()
    if meta.get("path"):
        kind = meta["path"]
        return click.Path(exists=True, dir_okay=kind != "file", file_okay=kind != "dir")
    low, high = meta.get("min"), meta.get("max")
    if base is int:
        return click.IntRange(low, high) if low is not None or high is not None else int
    if base is float:
        if low is not None or high is not None:
            return click.FloatRange(low, high, min_open=meta.get("min_open", False),
                                    max_open=meta.get("max_open", False))
        return float
    return str


def from_params(config_class: type, params: dict[str, Any], **overrides: Any):
    """The Config from a command's parsed parameters (its fields' options), plus
    `overrides`; the fields' keys are removed from `params`, leaving the command's own."""
    hints = _hints(config_class)
    values = {}
    for field in dataclasses.fields(config_class):
        for alias in field.metadata.get("aliases", ()):
            value = params.pop(_alias_key(field, alias), None)
            if value is not None:  # an old spelling given: it fills the setting
                params[field.name] = value
        if field.name in params:
            value = params.pop(field.name)
            base, _ = _base_type(hints[field.name])
            if field.metadata.get("choices") and base in (int, float) and isinstance(value, str):
                value = base(value)  # click.Choice hands back the chosen string
            values[field.name] = _parse_tuple(base, value) if _is_tuple(base) else value
    values.update(overrides)
    return validate(config_class(**values))


def validate(config: Any, source: str | None = None):
    """Checks every field's type, range and choices; one line naming the field (and the
    file it came from, for a model folder's config) on the first that is wrong.
    Returns the config."""
    hints = _hints(type(config))
    for field in dataclasses.fields(config):
        problem = _problem(getattr(config, field.name), hints[field.name], field.metadata)
        if problem:
            where = f"{source}: " if source else ""
            shown = field.name if source else option_name(field)
            raise DlkitError(f"{where}{shown} {problem}")
    return config


def _problem(value: Any, hint: Any, meta: dict) -> str | None:
    base, optional = _base_type(hint)
    if value is None:
        return None if optional else "must be set"
    if _is_tuple(base):
        if not isinstance(value, (tuple, list)):
            return f"must be a list, not {value!r}"
        item = (typing.get_args(base) or (object,))[0]
        bad = [v for v in value if item is not object and not _is_a(v, item)]
        return f"holds {bad[0]!r}, not a {item.__name__}" if bad else None
    if base in (int, float, bool, str) and not _is_a(value, base):
        return f"must be {'an' if base is int else 'a'} {base.__name__}, not {value!r}"
    if base in (int, float):
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be a finite number, not {value}"
        low, high = meta.get("min"), meta.get("max")
        if low is not None and (value < low or (meta.get("min_open") and value == low)):
            return f"must be {'above' if meta.get('min_open') else 'at least'} {low}, not {value}"
        if high is not None and (value > high or (meta.get("max_open") and value == high)):
            return f"must be {'below' if meta.get('max_open') else 'at most'} {high}, not {value}"
    choices = meta.get("choices")
    if choices and value not in choices:
        return f"must be one of {', '.join(map(str, choices))}, not {value!r}"
    return None


def _is_a(value: Any, kind: type) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def load(config_class: type, values: dict, source: str):
    """A Config from a saved dict (a model folder's config.json): unknown keys are
    ignored, so folders written by older versions still load, and every value is
    validated, so a hand-edited file gets one clear line."""
    if not isinstance(values, dict):
        raise DlkitError(f"{source}: expected a JSON object of settings, not {type(values).__name__}")
    hints = _hints(config_class)
    names = {f.name for f in dataclasses.fields(config_class)}
    kept = {}
    for key, value in values.items():
        if key in names:
            base, _ = _base_type(hints[key])
            kept[key] = tuple(value) if _is_tuple(base) and isinstance(value, list) else value
    return validate(config_class(**kept), source)
