"""``vstm data``: inspect and fetch data sets.

``vstm data preview`` draws sample sequences to a PNG; ``vstm data fetch opencv-samples DIR``
fetches real sample videos with the system package manager (the one explicit download).
"""

from __future__ import annotations

import argparse

from vstm.cli.argtypes import data_name, nonnegative_int, positive_int

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``vstm data`` (sub-commands: ``preview``, ``fetch``)."""
    from vstm.data.fetch import DATASETS

    sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    pv = sub.add_parser(
        "preview",
        help="write a PNG grid of sample sequences (and their true motion, where known)",
        description="Write a PNG grid of sample sequences: one row of frames per sequence; "
        "for Moving MNIST a row of its ground-truth motion (Middlebury colours, black where "
        "undefined) below each, with the colour wheel at the end.",
    )
    pv.add_argument(
        "--data",
        type=data_name,
        default="moving-mnist",
        help="moving-mnist, a video file, a folder of videos or frames, or a .npy file",
    )
    pv.add_argument("--out", required=True, help="PNG file to write")
    pv.add_argument("--num", type=positive_int, default=4, help="sequences to show (default 4)")
    pv.add_argument(
        "--seq-len", type=positive_int, default=20, help="frames per sequence (default 20)"
    )
    pv.add_argument("--split", choices=("train", "test"), default="train")
    pv.add_argument("--binarize", action="store_true", help="threshold Moving MNIST at 0.5")
    pv.add_argument("--seed", type=nonnegative_int, default=0, help="Moving MNIST seed (default 0)")
    pv.add_argument(
        "--size", type=positive_int, default=None, help="frame size (default 64 / source)"
    )
    pv.add_argument("--channels", type=int, choices=(1, 3), default=1)
    pv.add_argument("--mnist-dir", default=None, help="folder with MNIST IDX files")
    pv.add_argument("--stride", type=positive_int, default=None, help="video: frames between clips")
    pv.add_argument(
        "--frame-step", type=positive_int, default=1, help="video: take every Nth frame"
    )
    pv.add_argument(
        "--strict", action="store_true", help="video folder: a bad file is an error, not skipped"
    )
    pv.add_argument("--zoom", type=positive_int, default=1, help="enlarge tiles N times (nearest)")
    fe = sub.add_parser(
        "fetch",
        help="fetch real sample data (opencv-samples: OpenCV's videos and the Aloe stereo "
        "pair; opencv-photos: its photographs, for --data photo-motion)",
        description="Fetch real sample data into DIR, explicitly (vstm never downloads on its "
        "own). opencv-samples: Debian's opencv-doc package via 'apt-get download' and "
        "'dpkg -x' (no root needed): vtest.avi, tree.avi, Megamind.avi, box.mp4, cup.mp4 and "
        "the Middlebury Aloe stereo pair with ground-truth disparity; opencv-photos: 21 of its "
        "natural photographs, the textures of --data photo-motion. Without apt-get/dpkg it "
        "says where the files live upstream and exits with status 2.",
    )
    fe.add_argument("dataset", choices=DATASETS, help="what to fetch")
    fe.add_argument("dir", help="folder to write the files into (created if needed)")


def run(args: argparse.Namespace) -> int:
    """Dispatch ``vstm data ACTION``."""
    if args.data_command == "fetch":
        return _run_fetch(args)
    return _run_preview(args)


def _run_fetch(args: argparse.Namespace) -> int:
    """``vstm data fetch DATASET DIR``: fetch the data set and list the files written."""
    from vstm.data.fetch import fetch

    for path in fetch(args.dataset, args.dir):
        print(f"{path}  {path.stat().st_size / 1e6:.1f} MB")
    return 0


def _run_preview(args: argparse.Namespace) -> int:
    """``vstm data preview``: write sample sequences of ``--data`` to ``--out``."""
    from vstm.data import build_dataset, is_moving_mnist
    from vstm.errors import VstmError
    from vstm.io import check_output_file
    from vstm.system import check_memory
    from vstm.viz import save_png
    from vstm.viz.figures import preview_image

    check_output_file(args.out, "--out")
    if args.num < 1:
        raise VstmError(f"--num must be at least 1, got {args.num}")
    if args.zoom < 1:
        raise VstmError(f"--zoom must be at least 1, got {args.zoom}")
    ds = build_dataset(
        args.data,
        split=args.split,
        seq_len=args.seq_len,
        channels=args.channels,
        size=args.size,
        binarize=args.binarize,
        num_sequences=None if is_moving_mnist(args.data) else args.num,
        seed=args.seed,
        mnist_dir=args.mnist_dir,
        stride=args.stride,
        frame_step=args.frame_step,
        strict=args.strict,
    )
    n = min(args.num, len(ds))
    first = ds[0]["frames"]  # (T, C, H, W)
    t, _, h, w = first.shape
    check_memory(
        n * t * h * w * args.zoom**2 * 3 * 4,
        f"a preview of {n} sequences of {t} {h}x{w} frames at --zoom {args.zoom}",
        "use a smaller --zoom, --num or --size",
    )
    items = [ds[i] for i in range(n)]
    img, norm = preview_image(items, zoom=args.zoom)
    save_png(args.out, img)
    print(f"{ds!r}")
    print(f"wrote {args.out}: {n} sequences of {items[0]['frames'].shape[0]} frames")
    if norm > 0:
        print(f"motion colours: full colour = {norm:.2f} px/frame; black = motion undefined")
    return 0
