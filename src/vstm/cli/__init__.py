"""The ``vstm`` command: one thin module per sub-command, imported when the parser is built.

A sub-command is a module ``vstm.cli.<name>`` that defines ``add_arguments(parser)`` (argparse)
and ``run(args) -> int`` (the flags translated into calls of the library); ``COMMANDS`` lists
them. Importing ``vstm.cli`` imports none of them: :func:`build_parser` does, so that
``import vstm`` stays light. Errors the user can fix (:class:`VstmError`, a missing file, a
full disk) print one line and exit with status 2; ``--debug`` shows the traceback.

Shared pieces: :mod:`vstm.cli.argtypes` (the ``type=`` checker of every flag) and
:mod:`vstm.cli.options` (flags that several commands take). Nothing outside this package
imports it, except ``vstm/__main__.py`` (``python -m vstm``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from vstm.errors import VstmError

__all__ = ["COMMANDS", "build_parser", "main"]

COMMANDS: dict[str, str] = {
    # name: one-line help; the command lives in the module vstm.cli.<name>
    "info": "parameter breakdown and forward FLOPs of a model",
    "train": "train a model (resumable; DDP under torchrun)",
    "eval": "next-frame metrics of a checkpoint",
    "predict": "input | prediction | flow video of any video",
    "demo": "train on Moving MNIST for a few minutes and draw the results",
    "data": "inspect data sets: vstm data preview",
    "segment": "weakly-supervised segmentation: SegNet-flow (5.2)",
    "reproduce": "reproduce the paper's Table 1 under one protocol",
    "bench": "throughput and FLOP utilisation on this machine",
    "export": "the streaming step as ONNX, checked with onnxruntime",
}


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
    for name, help_ in COMMANDS.items():
        mod = importlib.import_module(f"vstm.cli.{name}")
        p = sub.add_parser(name, help=help_, description=help_)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
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
