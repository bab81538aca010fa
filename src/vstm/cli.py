"""The ``vstm`` command. Each sub-command is a thin call into the package.

A sub-command lives in a module that defines ``add_arguments(parser)`` and ``run(args) -> int``
(or, for ``"module:NAME"``, ``add_NAME_arguments`` and ``run_NAME``); ``COMMANDS`` lists them.
Errors the user can fix (:class:`VstmError`, a missing file, a full disk) print one line and
exit with status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from vstm.argtypes import positive_int
from vstm.errors import VstmError

__all__ = ["COMMANDS", "build_parser", "main"]

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, one-line help)
    "info": ("vstm.cli", "parameter breakdown and forward FLOPs of a model"),
    "train": ("vstm.train.commands:train", "train a model (resumable; DDP under torchrun)"),
    "eval": ("vstm.train.commands:eval", "next-frame metrics of a checkpoint"),
    "predict": ("vstm.train.commands:predict", "input | prediction | flow video of any video"),
    "demo": ("vstm.demo", "train on Moving MNIST for a few minutes and draw the results"),
    "data": ("vstm.data.commands", "inspect data sets: vstm data preview"),
    "segment": ("vstm.segment.commands", "weakly-supervised segmentation: SegNet-flow (5.2)"),
    "reproduce": ("vstm.reproduce", "reproduce the paper's Table 1 under one protocol"),
    "bench": ("vstm.bench", "throughput and FLOP utilisation on this machine"),
    "export": ("vstm.export", "the streaming step as ONNX, checked with onnxruntime"),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``vstm info``."""
    from vstm.models import model_names

    p.add_argument("--model", default="ae-convlstm-flow", choices=model_names())
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


class _Parser(argparse.ArgumentParser):
    """A bad flag value is one line on stderr (naming the flag) and exit status 2, like every
    other user error; sub-command parsers inherit this class."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vstm",
        description="Spatio-temporal video autoencoder with differentiable memory.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug-level logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (target, help_) in COMMANDS.items():
        module, _, fn = target.partition(":")
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_, description=help_)
        getattr(mod, f"add_{fn}_arguments" if fn else "add_arguments")(p)
        p.set_defaults(_run=getattr(mod, f"run_{fn}" if fn else "run"))
    return parser


def _os_error_line(e: OSError) -> str:
    text = e.strerror or str(e).splitlines()[0] or type(e).__name__
    return f"{text}: {e.filename}" if e.filename else text


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # a bad flag (status 2, one line) or --help (0)
        return e.code if isinstance(e.code, int) else 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        return int(args._run(args) or 0)
    except (VstmError, OSError) as e:
        # OSError: a missing or unreadable file, a full disk, a path that is a file
        if args.debug:
            raise
        msg = str(e).splitlines()[0] if isinstance(e, VstmError) else _os_error_line(e)
        code = getattr(e, "exit_code", 2)  # 128 + N: stopped cleanly by signal N
        print(f"vstm {args.command}: {'error: ' if code == 2 else ''}{msg}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print(f"vstm {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
