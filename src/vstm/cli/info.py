"""``vstm info``: a model's parameter breakdown and forward FLOPs, or the shipped weights."""

from __future__ import annotations

import argparse

from vstm.cli.argtypes import positive_int

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``vstm info``."""
    from vstm.models import model_names

    p.add_argument("--model", default="ae-convlstm-flow", choices=model_names("next-frame"))
    p.add_argument(
        "--height", type=positive_int, default=64, help="frame height for FLOPs (default 64)"
    )
    p.add_argument(
        "--width", type=positive_int, default=64, help="frame width for FLOPs (default 64)"
    )
    p.add_argument(
        "--channels", type=positive_int, default=None, help="channels per frame (default: 1)"
    )
    p.add_argument(
        "--pretrained",
        action="store_true",
        help="list the weights that ship with vstm (pretrained:NAME/DATASET), with their "
        "training command, compute and test scores",
    )


def run(args: argparse.Namespace) -> int:
    """``vstm info``: print the model's parameter breakdown and FLOPs per frame."""
    from vstm.info import format_info

    if args.pretrained:
        from vstm.models.pretrained import format_listing

        print(format_listing())
        return 0
    overrides = {} if args.channels is None else {"in_channels": args.channels}
    print(format_info(args.model, args.height, args.width, **overrides))
    return 0
