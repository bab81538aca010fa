"""Checking values read from config files and flags against dataclass type hints."""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

from vstm.errors import VstmError

__all__ = ["check_value"]


def check_value(where: str, name: str, hint: Any, value: Any) -> Any:
    """Return ``value`` (ints widened to float where a float is wanted) if it fits ``hint``.

    Understands bool, int, float, str, dict, ``Literal[...]`` and ``X | None``; raises a
    one-line :class:`VstmError` naming ``where``, the field and the expected type otherwise.

    >>> check_value("config", "lr", float, 1)
    1.0
    >>> check_value("config", "precision", Literal["fp32", "bf16"], "fp8")
    Traceback (most recent call last):
    ...
    vstm.errors.VstmError: config: precision must be one of ['fp32', 'bf16'], got 'fp8'
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        if value not in args:
            raise VstmError(f"{where}: {name} must be one of {list(args)}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return check_value(where, name, inner[0], value)
        return value
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif hint is str:
        ok = isinstance(value, str)
    elif origin is dict or hint is dict:
        ok = isinstance(value, dict)
    else:
        ok = True
    if not ok:
        want = getattr(hint, "__name__", str(hint))
        raise VstmError(f"{where}: {name} must be {want}, got {type(value).__name__} {value!r}")
    return value
