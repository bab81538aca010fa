"""``vstm export``: the streaming step as ONNX (:mod:`vstm.export`), checked with onnxruntime."""

from __future__ import annotations

import argparse
from pathlib import Path

from vstm.cli.argtypes import positive_int
from vstm.errors import VstmError

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    from vstm.export import MIN_OPSET

    a = p.add_argument
    a("--checkpoint", required=True, help="a .safetensors checkpoint (or a run folder)")
    a("--onnx", required=True, metavar="OUT", help="the .onnx file to write")
    a("--height", type=positive_int, default=64, help="example frame height traced (default 64)")
    a("--width", type=positive_int, default=64, help="example frame width traced (default 64)")
    a("--opset", type=positive_int, default=17, help=f"ONNX opset (>= {MIN_OPSET}; default 17)")
    a("--no-verify", action="store_true", help="skip the onnxruntime vs PyTorch check")


def run(args: argparse.Namespace) -> int:
    """``vstm export``: write the streaming step as ONNX and check it against PyTorch."""
    from vstm.export import check_export, export_onnx
    from vstm.inference.next_frame import check_writable_dir
    from vstm.models.checkpoint import load_checkpoint

    out = Path(args.onnx)
    if out.is_dir():
        raise VstmError(f"--onnx {out}: is a folder; give a file name such as step.onnx")
    check_writable_dir(out.parent if str(out.parent) else Path("."), flag="--onnx folder")
    model, _header = load_checkpoint(args.checkpoint)
    info = export_onnx(model, out, args.height, args.width, args.opset)
    shape = "any frame size" if info["dynamic"] else "fixed frame size"
    print(
        f"wrote {out}: inputs ({', '.join(info['inputs'])}) -> outputs "
        f"({', '.join(info['outputs'])}), opset {info['opset']}, {shape}"
    )
    if not args.no_verify:
        r = check_export(out, model, args.height, args.width)
        verdict = "ok" if r["ok"] else "LARGER THAN 1e-4"
        print(
            f"onnxruntime vs PyTorch over {r['steps']} steps: max abs difference "
            f"{r['max_abs_diff']:.2e} ({verdict})"
        )
        if not r["ok"]:
            out.unlink(missing_ok=True)
            raise VstmError(
                f"the exported step differs from PyTorch by {r['max_abs_diff']:.2e} > 1e-4; "
                "nothing written (report this with the checkpoint)"
            )
    return 0
