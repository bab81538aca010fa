"""Argparse ``type=`` functions: every numeric or path flag is checked where it is parsed; and
:func:`parse_option`, the one reader of ``--model-option KEY=VALUE``.

A bad value makes argparse print the usage and one ``error:`` line naming the flag, and exit
with status 2, before any work starts. Every numeric flag of every command uses one of these,
or lists its choices (``tests/test_argtypes.py`` checks that).

>>> positive_int("3")
3
>>> positive_int("-3")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: must be an integer >= 1, got '-3'
>>> data_name("moving_mnist")
'moving-mnist'
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from vstm.data.names import canonical_data
from vstm.errors import VstmError

__all__ = [
    "data_name",
    "nonnegative_float",
    "nonnegative_int",
    "parse_option",
    "positive_float",
    "positive_int",
]


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None


def _float(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (sizes, counts, steps, batch sizes)."""
    value = _int(text, "an integer >= 1")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    """An integer >= 0 (seeds, worker counts, ``0 = off`` settings)."""
    value = _int(text, "an integer >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (learning rates, minutes, frame rates)."""
    value = _float(text, "a positive number")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """A finite number >= 0 (loss weights)."""
    value = _float(text, "a number >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def data_name(text: str) -> str:
    """A ``--data`` value with its aliases resolved (``moving_mnist`` -> ``moving-mnist``)."""
    return canonical_data(text)


def parse_option(text: str) -> tuple[str, Any]:
    """One ``--model-option KEY=VALUE`` -> ``(KEY, VALUE)``, VALUE read as JSON where it is JSON
    (numbers, ``true``, lists), else kept as the string.

    The model's config checks the key and the value's type afterwards, naming its known keys.

    >>> parse_option("hidden_channels=32"), parse_option("lstm_impl=fft")
    (('hidden_channels', 32), ('lstm_impl', 'fft'))

    Raises:
        VstmError: without ``=``.
    """
    key, sep, value = text.partition("=")
    if not sep:
        raise VstmError(f"--model-option {text!r}: expected KEY=VALUE")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value
