"""``vstm predict``: input | predicted next frame | motion colour video of any video."""

from __future__ import annotations

import argparse
import logging

from vstm.cli.argtypes import positive_int
from vstm.cli.options import add_inference_precision, inference_precision
from vstm.errors import VstmError

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    a = p.add_argument
    a("input", help="a video file or a folder of frames")
    a("--checkpoint", required=True, help="a .safetensors checkpoint (or a run folder)")
    a("--out", required=True, help="output folder")
    a(
        "--size",
        default="train",
        help="shorter side in pixels, 'train' (as trained, default) or 'native'",
    )
    a("--frame-step", type=positive_int, default=1, help="use every N-th frame")
    a("--max-frames", type=positive_int, help="stop after this many frames")
    a(
        "--horizon",
        type=positive_int,
        help="then forecast N frames past the last input frame, feeding each prediction back",
    )
    a("--png", action="store_true", help="also write a PNG strip per frame")
    a("--flo", action="store_true", help="also write a .flo motion file per frame")
    a("--device", default="auto")
    a(
        "--cuda-graphs",
        action="store_true",
        help="CUDA only: replay each step from one captured CUDA graph (fewer kernel launches)",
    )
    add_inference_precision(a)


def run(args: argparse.Namespace) -> int:
    from vstm.inference.fit import data_kind, input_mismatch, peek_source, seen_size
    from vstm.inference.next_frame import inherited_settings, predict_video
    from vstm.io import check_output_dir
    from vstm.models import check_horizon
    from vstm.models.checkpoint import load_checkpoint
    from vstm.system import check_memory, model_bytes_per_pixel, resolve_device

    check_output_dir(args.out, "--out")
    if args.horizon is not None:
        try:
            check_horizon(args.horizon)
        except VstmError as e:
            raise VstmError(f"--{e}") from None
    device = resolve_device(args.device)
    path = inference_precision(args, device)
    print(path.describe(None), flush=True)  # the first line: which path this run takes
    if args.cuda_graphs and device.type != "cuda":
        raise VstmError(f"--cuda-graphs needs a CUDA device, not {device}; leave it out here")
    model, header = load_checkpoint(args.checkpoint, map_location=device)
    if args.size == "native":
        size = None
    elif args.size == "train":
        size = inherited_settings(header, args.checkpoint).get("size") or 64
    else:
        try:
            size = positive_int(args.size)
        except argparse.ArgumentTypeError as e:
            raise VstmError(
                f"--size {args.size!r}: expected a positive number, 'train' or 'native'"
            ) from e
    peek = peek_source(args.input)
    if peek is not None:
        h, w = seen_size(peek[1], size)
        hc = (header.get("model_config") or {}).get("hidden_channels")
        check_memory(
            h * w * model_bytes_per_pixel(hc, training=False),
            f"predicting {h}x{w} frames" + (f" (--size {size})" if size else " (native size)"),
            "use a smaller --size",
        )
        warning = input_mismatch(header, data_kind(args.input), channels=peek[0], frame_size=(h, w))
        if warning:
            logging.getLogger("vstm.predict").warning("%s", warning)
    r = predict_video(
        model,
        header,
        args.input,
        args.out,
        size=size,
        frame_step=args.frame_step,
        max_frames=args.max_frames,
        horizon=args.horizon,
        png=args.png,
        flo=args.flo,
        device=device,
        precision=path.precision,
        cuda_graphs=args.cuda_graphs,
    )
    print(f"wrote {r.video} ({r.frames} frames: input | predicted next frame | motion colour)")
    if r.forecast:
        print(f"  then {r.forecast} forecast frames: truth | closed-loop forecast | motion colour")
    if r.pngs:
        print(f"wrote {len(r.pngs)} PNG strips under {r.pngs[0].parent}")
    if r.flos:
        print(f"wrote {len(r.flos)} .flo files under {r.flos[0].parent}")
    return 0
