"""Flags that several commands share, each defined once: ``--model-option`` (``vstm train``,
``vstm segment train``) and the inference ``--precision`` (``vstm eval``, ``vstm predict``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from vstm.cli.argtypes import parse_option

__all__ = ["add_inference_precision", "add_model_option", "inference_precision", "model_options"]


def add_model_option(add: Callable[..., Any], help_text: str) -> None:
    """``--model-option KEY=VALUE`` (repeatable), read by :func:`model_options`."""
    add("--model-option", action="append", default=[], metavar="KEY=VALUE", help=help_text)


def model_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--model-option`` flags as the ``model_options`` settings ({} if none)."""
    return dict(parse_option(o) for o in args.model_option)


def add_inference_precision(add: Callable[..., Any]) -> None:
    """``--precision`` of a command that runs a trained model."""
    add(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        default="auto",
        help="the model's arithmetic (default auto: bf16 autocast where the machine computes "
        "it natively, fp32 elsewhere; the first log line says which)",
    )


def inference_precision(args: argparse.Namespace, device):
    """Resolve ``--precision`` for ``device`` (a :class:`vstm.system.PrecisionChoice`).

    Printed with the results, not logged first: a user error later in the command stays the
    only line on stderr."""
    from vstm.system import choose_precision

    return choose_precision(args.precision, device)
