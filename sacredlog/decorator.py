"""The function forms: `@sacredlog.main(...)` and `run_function(fn, config, ...)`.

The function's parameters are filled by name: `config` / `_config` get the whole config, `run` / `_run`
the Run, any other name the config entry of that name (as Sacred's captured functions do).
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Mapping
from typing import Any

from sacredlog.run import Run


def _merge(config: Mapping[str, Any], updates: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(config)
    for key, value in updates.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _call_arguments(fn: Callable[..., Any], run: Run) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for name, param in inspect.signature(fn).parameters.items():
        if name in ("config", "_config"):
            kwargs[name] = run.config
        elif name in ("run", "_run"):
            kwargs[name] = run
        elif name in run.config:
            kwargs[name] = run.config[name]
        elif param.default is inspect.Parameter.empty and param.kind not in (
            inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD
        ):
            raise TypeError(f"{fn.__name__}() needs {name!r}, which is not in the config")
    return kwargs


def run_function(fn: Callable[..., Any], config: Mapping[str, Any] | None = None,
                 config_updates: Mapping[str, Any] | None = None, **run_options: Any) -> Any:
    """Run `fn` as one recorded run; its return value becomes `result`. Exceptions are recorded, then re-raised."""
    config = _merge(config or {}, config_updates or {})
    run_options.setdefault("command", fn.__name__)
    run_options.setdefault("experiment", getattr(sys.modules.get(fn.__module__), "__name__", None)
                           if fn.__module__ != "__main__" else None)
    run = Run(config=config, config_updates=config_updates or None, **run_options)
    with run:
        kwargs = _call_arguments(fn, run)
        try:
            run.result = fn(**kwargs)
        except BaseException as exc:
            tb = exc.__traceback__.tb_next if exc.__traceback__ else None  # drop this wrapper's frame
            run.close_with_exception(type(exc), exc, tb)
            raise
    return run.result


def main(experiment: str | None = None, *, config: Mapping[str, Any] | None = None,
         **run_options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: calling the function runs it as a recorded run; keyword arguments update the config."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(**config_updates: Any) -> Any:
            return run_function(fn, config, config_updates, experiment=experiment, **run_options)

        return wrapper

    return decorate
