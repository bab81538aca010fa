"""``vstm demo``: the paper's model on Moving MNIST from the shipped weights, or trained from
scratch for a few minutes, scored and drawn (:mod:`vstm.demo`)."""

from __future__ import annotations

import argparse

from vstm.cli.argtypes import positive_float, positive_int
from vstm.errors import VstmError

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs/demo", help="run folder (default runs/demo)")
    p.add_argument(
        "--from-scratch",
        action="store_true",
        help="train from random weights for --minutes instead of using the shipped weights",
    )
    p.add_argument(
        "--minutes",
        type=positive_float,
        default=4.0,
        help="training budget with --from-scratch (default 4)",
    )
    p.add_argument(
        "--score-sequences",
        type=positive_int,
        default=256,
        help="held-out test sequences scored (default 256)",
    )
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        default="auto",
        help="training precision with --from-scratch (default auto: the machine's fastest path)",
    )
    p.add_argument("--sequences", type=positive_int, default=4, help="test sequences drawn")
    p.add_argument(
        "--real-data",
        default="data/opencv-samples",
        help="real videos to show the real-video model on, if present (default "
        "data/opencv-samples, where 'make samples' puts them); nothing is downloaded",
    )


def run(args: argparse.Namespace) -> int:
    from vstm.demo import REAL_HINT, REAL_PRETRAINED, draw, prepare_run, real_video, score
    from vstm.io import check_output_dir

    if args.score_sequences < 1:
        raise VstmError(f"--score-sequences must be at least 1, got {args.score_sequences}")
    out = check_output_dir(args.out, "--out")
    prepare_run(
        out,
        from_scratch=args.from_scratch,
        minutes=args.minutes,
        device=args.device,
        precision=args.precision,
    )
    scores = score(out, args.score_sequences)
    print(
        f"held-out test ({args.score_sequences} sequences, frame 11 from 1..10): "
        f"BCE {scores['bce']:.4f} (copy last frame {scores['copy_last_bce']:.4f}), "
        f"motion EPE {scores['epe']:.2f} px (zero motion {scores['zero_motion_epe']:.2f} px)"
    )
    paths = draw(out, args.sequences)
    print(f"checkpoint: {out / 'best.safetensors'}")
    for what, p in paths.items():
        print(f"{what}: {p}")
    real = real_video(out / "real", args.real_data)
    if real is None:
        print(REAL_HINT)
        print(
            f"next: vstm predict --checkpoint {out / 'best.safetensors'} YOUR_VIDEO.mp4 --out out/"
        )
        return 0
    table, n = real["report"]["table"], real["report"]["test_clips"]
    print(
        f"real video ({n} held-out clips of {args.real_data}, MSE of frame t+1): "
        f"{real['report']['model']} {table['model']['mse']:.5f}, copy last frame "
        f"{table['copy-last']['mse']:.5f}, OpenCV DIS constant velocity {table['dis']['mse']:.5f}"
    )
    print(f"real figure 6: {out / 'real' / 'figure6.png'} (table: figure6.md)")
    print(f"real predictions: {real['video']}")
    key = f"pretrained:{REAL_PRETRAINED[0]}/{REAL_PRETRAINED[1]}"
    print(f"next: vstm predict --checkpoint {key} YOUR_VIDEO.mp4 --out out/ --frame-step 2")
    return 0
