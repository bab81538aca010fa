"""Explicit fetching of real sample data: ``vstm data fetch opencv-samples|opencv-photos DIR``.

Nothing in vstm downloads anything on its own; this module is the one named, user-invoked
way to get real video for development (DESIGN section 6). It uses the system package
manager: Debian's ``opencv-doc`` package (about 96 MB) ships OpenCV's sample data, and
``apt-get download`` + ``dpkg -x`` unpack it without installing anything or needing root.

Files copied (paths inside the package, as in opencv-doc 4.6.0 on Debian bookworm):

- ``usr/share/doc/opencv-doc/examples/data/``: ``vtest.avi`` (a static-camera street with
  pedestrians, 768x576), ``tree.avi``, ``Megamind.avi`` (animation), and the Middlebury 2006
  Aloe stereo pair with the left view's ground-truth disparity (``aloeL.jpg``, ``aloeR.jpg``,
  ``aloeGT.png``);
- ``usr/share/doc/opencv-doc/opencv4/html/``: ``box.mp4.gz`` and ``cup.mp4.gz``, gunzipped.

``opencv-photos`` copies the natural photographs of the same ``examples/data`` folder
(:data:`OPENCV_PHOTOS`; one view of each scene that has several, no drawings, charts or
text), the textures of the photo-motion source (:mod:`vstm.data.photo_motion`).

Where ``apt-get`` or ``dpkg`` is missing, :func:`fetch_opencv_samples` raises a
:class:`VstmError` that says where the same files live upstream.
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from vstm.errors import VstmError
from vstm.io import atomic_path

__all__ = [
    "DATASETS",
    "OPENCV_PHOTOS",
    "OPENCV_SAMPLES",
    "OPENCV_UPSTREAM",
    "fetch",
    "fetch_opencv_samples",
]

log = logging.getLogger(__name__)

OPENCV_PACKAGE = "opencv-doc"
_DATA = "usr/share/doc/opencv-doc/examples/data"
_HTML = "usr/share/doc/opencv-doc/opencv4/html"

OPENCV_SAMPLES: dict[str, tuple[str, bool]] = {
    # file written: (path inside the package, required)
    "vtest.avi": (f"{_DATA}/vtest.avi", True),
    "tree.avi": (f"{_DATA}/tree.avi", True),
    "Megamind.avi": (f"{_DATA}/Megamind.avi", True),
    "aloeL.jpg": (f"{_DATA}/aloeL.jpg", True),
    "aloeR.jpg": (f"{_DATA}/aloeR.jpg", True),
    "aloeGT.png": (f"{_DATA}/aloeGT.png", True),
    "box.mp4": (f"{_HTML}/box.mp4.gz", False),
    "cup.mp4": (f"{_HTML}/cup.mp4.gz", False),
}
"""The files of ``opencv-samples``. A package path may also exist gzipped (``.gz`` added, as
Debian compresses some documentation); a path ending in ``.gz`` is gunzipped on copy."""

OPENCV_PHOTOS: dict[str, tuple[str, bool]] = {
    name: (f"{_DATA}/{name}", True)
    for name in (
        "aero1.jpg",
        "apple.jpg",
        "baboon.jpg",
        "basketball1.png",
        "Blender_Suzanne1.jpg",
        "board.jpg",
        "building.jpg",
        "butterfly.jpg",
        "ela_original.jpg",
        "fruits.jpg",
        "graf1.png",
        "HappyFish.jpg",
        "home.jpg",
        "leuvenA.jpg",
        "messi5.jpg",
        "orange.jpg",
        "rubberwhale1.png",
        "smarties.png",
        "squirrel_cls.jpg",
        "starry_night.jpg",
        "stuff.jpg",
    )
}
"""The files of ``opencv-photos`` (21 photographs; photo motion's test pool is every fifth
by name: see :func:`vstm.data.photo_motion.photo_pool`)."""

OPENCV_UPSTREAM = (
    "https://github.com/opencv/opencv/tree/4.x/samples/data (vtest.avi, tree.avi, "
    "Megamind.avi, aloeL.jpg, aloeR.jpg, aloeGT.png) and "
    "https://github.com/opencv/opencv/tree/4.x/doc/js_tutorials/js_assets (box.mp4, cup.mp4)"
)
"""Where the same files live in the OpenCV repository."""

DATASETS: tuple[str, ...] = ("opencv-samples", "opencv-photos")


def _run(cmd: Sequence[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run a command, capturing its output (tests replace this function)."""
    return subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, check=False)


def _which(tool: str) -> str | None:
    """The path of a program on PATH, or None (tests replace this function)."""
    return shutil.which(tool)


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def _copy(src: Path, dest: Path) -> None:
    """Copy ``src`` to ``dest`` atomically, gunzipping a ``.gz`` source."""
    with atomic_path(dest) as tmp:
        if src.suffix == ".gz":
            with gzip.open(src, "rb") as fi, open(tmp, "wb") as fo:
                shutil.copyfileobj(fi, fo, 1 << 20)
        else:
            shutil.copyfile(src, tmp)


def fetch_opencv_samples(
    dest: str | os.PathLike, files: dict[str, tuple[str, bool]] = OPENCV_SAMPLES
) -> list[Path]:
    """Fetch OpenCV's sample videos and the Aloe stereo pair into ``dest``.

    Downloads the ``opencv-doc`` package with ``apt-get download`` into a temporary folder
    (removed afterwards), unpacks it with ``dpkg -x`` and copies the files of
    ``files`` (default :data:`OPENCV_SAMPLES`; :data:`OPENCV_PHOTOS` for the photographs)
    into ``dest`` (created if needed; files already there are
    replaced atomically, nothing else in it is touched).

    Returns:
        The paths written, in the order of ``files``.

    Raises:
        VstmError: ``apt-get`` or ``dpkg`` is missing (the message says where the files live
            upstream), the download or unpacking fails, or a required file is not in the
            package.
    """
    missing = [tool for tool in ("apt-get", "dpkg") if _which(tool) is None]
    if missing:
        raise VstmError(
            f"{' and '.join(missing)} not found (no Debian/Ubuntu package manager): download "
            f"the files by hand from {OPENCV_UPSTREAM} into {dest}"
        )
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise VstmError(f"{dest}: exists and is not a folder; name a folder to fetch into")
    with tempfile.TemporaryDirectory(prefix="vstm-opencv-doc-") as tmp_name:
        tmp = Path(tmp_name)
        log.info("apt-get download %s (about 96 MB) into %s", OPENCV_PACKAGE, tmp)
        r = _run(["apt-get", "download", OPENCV_PACKAGE], tmp)
        debs = sorted(tmp.glob(f"{OPENCV_PACKAGE}_*.deb"))
        if r.returncode != 0 or not debs:
            raise VstmError(
                f"apt-get download {OPENCV_PACKAGE} failed ({_last_line(r.stderr or r.stdout)}); "
                f"run 'apt-get update' first, or download the files from {OPENCV_UPSTREAM}"
            )
        root = tmp / "root"
        r = _run(["dpkg", "-x", str(debs[-1]), str(root)], tmp)
        if r.returncode != 0:
            raise VstmError(
                f"dpkg -x {debs[-1].name} failed ({_last_line(r.stderr or r.stdout)}); "
                f"download the files from {OPENCV_UPSTREAM}"
            )
        found: dict[str, Path] = {}
        for name, (inner, required) in files.items():
            src = next((p for p in (root / inner, root / f"{inner}.gz") if p.is_file()), None)
            if src is not None:
                found[name] = src
            elif required:
                raise VstmError(
                    f"{debs[-1].name} has no {inner}: this opencv-doc version lays its files "
                    f"out differently; download them from {OPENCV_UPSTREAM}"
                )
            else:
                log.warning("%s has no %s; skipping %s", debs[-1].name, inner, name)
        dest.mkdir(parents=True, exist_ok=True)
        written = []
        for name, src in found.items():
            _copy(src, dest / name)
            written.append(dest / name)
    return written


def fetch(dataset: str, dest: str | os.PathLike) -> list[Path]:
    """Fetch the named data set (one of :data:`DATASETS`) into ``dest``."""
    if dataset == "opencv-samples":
        return fetch_opencv_samples(dest)
    if dataset == "opencv-photos":
        return fetch_opencv_samples(dest, OPENCV_PHOTOS)
    raise VstmError(f"unknown data set {dataset!r}; choose one of: {', '.join(DATASETS)}")
