"""Data for weakly-supervised video segmentation: one labelled frame per clip.

Every item is a dict:

- ``"frames"``: float32 (T, C, H, W) in [0, 1];
- ``"labels"``: int64 (T, H, W) class ids 0..K-1, :data:`~vstm.metrics.VOID` (255)
  where unknown: every pixel of an unlabelled frame, and void pixels of a labelled one;
- ``"labelled"``: bool (T,), the frames whose labels training may use (one per clip).

Two sources:

- :class:`LabelledMovingMNIST` (``--data moving-mnist``): Moving MNIST where each digit
  pixel's class is its digit (0..9) and background is class 10, generated deterministically
  from a seed with no download (:class:`vstm.data.MovingMNIST` with ``with_classes``). In
  training only one frame per sequence (the last, by default) carries labels, as CamVid has
  one labelled frame per second of video; test sets may carry dense labels (``dense=True``)
  so that every frame can be scored and temporal consistency measured.
- :class:`CamVidClips` (``--data PATH``): the CamVid layout on disk (below); each labelled
  frame becomes a clip of ``seq_len`` frames ending at it.

CamVid layout (Brostow et al. 2008; the names are CamVid's own)::

    ROOT/frames/SEQ/...            every frame of video sequence SEQ, as image files whose
                                   name ends in the frame number (0001TP_006690.png,
                                   Seq05VD_f00000.png, 006690.png, ...)
    ROOT/labels/...                label images named SEQ_NUMBER[_L].png
                                   (0001TP_006690_L.png), colour-coded (RGB) or class-index
                                   (grey or palette: pixel value = class id, others void)
    ROOT/train.txt, val.txt, test.txt
                                   the label images of each split, one name per line
    ROOT/classes.json              optional class list (default: CamVid's 11 classes + void)

A class list is ``{"classes": [{"name": "Sky", "color": [128, 128, 128]}, ...],
"void": {"name": "Void", "color": [0, 0, 0]}}``; a class may list several colours
(``"colors": [[..], [..]]``) to merge CamVid's 32 original classes into fewer. Colours
that are not listed are void.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from vstm.data.moving_mnist import BACKGROUND, MovingMNIST
from vstm.data.names import BUILTIN_DATA, canonical_data
from vstm.errors import VstmError
from vstm.io import read_settings_file
from vstm.metrics import VOID

__all__ = [
    "CAMVID_11",
    "MNIST_DIGITS",
    "CamVidClips",
    "LabelSet",
    "LabelledMovingMNIST",
    "build_seg_dataset",
    "label_set_of",
    "load_label_set",
    "parse_size",
]

Color = tuple[int, int, int]


@dataclass(frozen=True)
class LabelSet:
    """Class names and their colours; void is not a class.

    Attributes:
        names: K class names, in class-id order.
        colors: for each class, the RGB colours that mean it in a label image (the first is
            the one drawn).
        void_name, void_color: name and drawing colour of void (unknown) pixels.
    """

    names: tuple[str, ...]
    colors: tuple[tuple[Color, ...], ...]
    void_name: str = "Void"
    void_color: Color = (0, 0, 0)

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def palette(self) -> np.ndarray:
        """uint8 (256, 3): drawing colour of every id (classes, then void for the rest)."""
        pal = np.tile(np.array(self.void_color, np.uint8), (256, 1))
        for k, cs in enumerate(self.colors):
            pal[k] = cs[0]
        return pal

    def encode(self, rgb: np.ndarray) -> np.ndarray:
        """Colour label image uint8 (H, W, 3) -> class ids int64 (H, W); unknown colours and
        the void colour become :data:`VOID`.

        >>> ls = LabelSet(("a", "b"), (((255, 0, 0),), ((0, 0, 255), (0, 255, 0))))
        >>> img = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 0], [9, 9, 9]]], np.uint8)
        >>> ls.encode(img).tolist()
        [[0, 1, 255, 255]]
        """
        code = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8)
        code |= rgb[..., 2].astype(np.int64)
        out = np.full(code.shape, VOID, np.int64)
        for k, cs in enumerate(self.colors):
            for r, g, b in cs:
                out[code == ((r << 16) | (g << 8) | b)] = k
        return out

    def colorize(self, labels: torch.Tensor | np.ndarray) -> np.ndarray:
        """Class ids (..., H, W) -> uint8 (..., H, W, 3) in the class colours (void colour for
        void and unknown ids)."""
        arr = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else labels
        arr = np.asarray(arr, dtype=np.int64)
        return self.palette()[np.where((arr >= 0) & (arr < 256), arr, VOID)]


CAMVID_11 = LabelSet(
    names=(
        "Sky",
        "Building",
        "Pole",
        "Road",
        "Pavement",
        "Tree",
        "SignSymbol",
        "Fence",
        "Car",
        "Pedestrian",
        "Bicyclist",
    ),
    colors=(
        ((128, 128, 128),),
        ((128, 0, 0),),
        ((192, 192, 128),),
        ((128, 64, 128),),
        ((0, 0, 192),),
        ((128, 128, 0),),
        ((192, 128, 128),),
        ((64, 64, 128),),
        ((64, 0, 128),),
        ((64, 64, 0),),
        ((0, 128, 192),),
    ),
    void_name="Void",
    void_color=(0, 0, 0),
)
"""CamVid's 11 classes and void as SegNet uses them, in CamVid's standard colours."""

MNIST_DIGITS = LabelSet(
    names=(*(str(d) for d in range(10)), "background"),
    colors=(
        ((230, 25, 75),),
        ((60, 180, 75),),
        ((255, 225, 25),),
        ((0, 130, 200),),
        ((245, 130, 48),),
        ((145, 30, 180),),
        ((70, 240, 240),),
        ((240, 50, 230),),
        ((210, 245, 60),),
        ((250, 190, 212),),
        ((0, 0, 0),),
    ),
    void_name="void",
    void_color=(128, 128, 128),
)
"""Labelled Moving MNIST: digits 0..9 (distinct colours), background (black) = class 10."""
if MNIST_DIGITS.num_classes - 1 != BACKGROUND:  # pragma: no cover - a guard for editors
    raise ImportError("MNIST_DIGITS must end with the Moving MNIST background class")


def _color(value, where: str) -> Color:
    if not (isinstance(value, list | tuple) and len(value) == 3) or not all(
        isinstance(v, int) and 0 <= v <= 255 for v in value
    ):
        raise VstmError(f"{where}: a colour must be [R, G, B] with integers 0..255, got {value}")
    return (int(value[0]), int(value[1]), int(value[2]))


def load_label_set(path: str | os.PathLike) -> LabelSet:
    """Read a class list (JSON, or TOML with the same keys; see the module docstring)."""

    values = read_settings_file(path, "class list")  # .json, .toml or .yaml; one-line errors
    classes = values.get("classes")
    if not isinstance(classes, list) or len(classes) < 2:
        raise VstmError(
            f"class list {path}: needs a 'classes' list of at least 2 entries "
            '{"name": ..., "color": [R, G, B]}'
        )
    names, colors = [], []
    for i, c in enumerate(classes):
        where = f"class list {path}: class {i}"
        if not isinstance(c, dict) or "name" not in c or not ("color" in c or "colors" in c):
            raise VstmError(f"{where}: expected {{'name': ..., 'color': [R, G, B]}}, got {c}")
        cs = c["colors"] if "colors" in c else [c["color"]]
        names.append(str(c["name"]))
        colors.append(tuple(_color(v, where) for v in cs))
    if len(names) > VOID:
        raise VstmError(f"class list {path}: at most {VOID} classes, got {len(names)}")
    void = values.get("void", {})
    return LabelSet(
        tuple(names),
        tuple(colors),
        void_name=str(void.get("name", "Void")),
        void_color=_color(void.get("color", [0, 0, 0]), f"class list {path}: void"),
    )


# ---------------------------------------------------------------- labelled Moving MNIST
class LabelledMovingMNIST(Dataset):
    """Moving MNIST with per-pixel digit classes and one labelled frame per sequence.

    Args:
        split, num_sequences, seq_len, size, binarize, seed, channels, mnist_dir, num_digits,
            speed: as :class:`vstm.data.MovingMNIST` (``binarize`` defaults to True here: a
            digit pixel is then exactly a pixel with value 1).
        label_frame: index of the labelled frame (negative counts from the end; default the
            last).
        dense: if True, every frame carries its labels (for testing); ``"labelled"`` still
            marks only ``label_frame``; items also carry Moving MNIST's true ``"motion"``
            and ``"mask"`` (:class:`vstm.data.MovingMNIST`).

    >>> ds = LabelledMovingMNIST("test", num_sequences=2, seq_len=4)
    >>> it = ds[0]
    >>> tuple(it["labels"].shape), it["labelled"].tolist(), int(it["labels"][0].min())
    ((4, 64, 64), [False, False, False, True], 255)
    """

    label_set = MNIST_DIGITS

    def __init__(
        self,
        split: str = "train",
        *,
        num_sequences: int | None = None,
        seq_len: int = 10,
        size: int = 64,
        binarize: bool = True,
        seed: int = 0,
        channels: int = 1,
        mnist_dir: str | None = None,
        num_digits: int = 2,
        speed: tuple[float, float] = (2.0, 5.0),
        label_frame: int = -1,
        dense: bool = False,
    ) -> None:
        if not -seq_len <= label_frame < seq_len:
            raise VstmError(
                f"labelled Moving MNIST: label_frame {label_frame} is outside a clip of "
                f"{seq_len} frames; use 0..{seq_len - 1} or -1 for the last"
            )
        self.mm = MovingMNIST(
            split,
            mnist_dir=mnist_dir,
            num_sequences=num_sequences,
            seq_len=seq_len,
            size=size,
            num_digits=num_digits,
            speed=speed,
            binarize=binarize,
            seed=seed,
            channels=channels,
            with_classes=True,
        )
        self.label_frame = label_frame % seq_len
        self.dense = bool(dense)

    def __len__(self) -> int:
        return len(self.mm)

    def __repr__(self) -> str:
        return (
            f"LabelledMovingMNIST({self.mm!r}, label_frame={self.label_frame}, dense={self.dense})"
        )

    def _item(self, it: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        labels = it["classes"]  # (T, H, W)
        t = labels.shape[0]
        labelled = torch.zeros(t, dtype=torch.bool)
        labelled[self.label_frame] = True
        if not self.dense:
            labels = torch.where(labelled[:, None, None], labels, VOID)
            return {"frames": it["frames"], "labels": labels, "labelled": labelled}
        # test sets also carry the true motion, to score the flow the labels travel along
        out = {"frames": it["frames"], "labels": labels, "labelled": labelled}
        return out | {"motion": it["motion"], "mask": it["mask"]}

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self._item(self.mm[i])

    def __getitems__(self, indices) -> list[dict[str, torch.Tensor]]:
        return [self._item(it) for it in self.mm.__getitems__(indices)]


# ---------------------------------------------------------------- CamVid layout
_LABEL_NAME = re.compile(r"^(?P<seq>.+)_f?(?P<num>\d+)(?:_L)?$")
_NUMBER = re.compile(r"(\d+)(?!.*\d)")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".webp")


def _open_image(path: Path, what: str) -> Image.Image:
    try:
        with Image.open(path) as im:
            im.load()
            return im
    except FileNotFoundError as e:
        raise VstmError(f"{path}: {what} does not exist; check the CamVid folder") from e
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise VstmError(f"{path}: {what} failed to decode ({e}); replace this file") from e


@dataclass(frozen=True)
class _Clip:
    label: str  # the label image
    frames: tuple[str, ...]  # the clip's frame files, the labelled one last


class CamVidClips(Dataset):
    """Clips of ``seq_len`` frames ending at each labelled frame of a CamVid-layout folder.

    Args:
        root: the folder (layout in the module docstring).
        split: ``train``, ``val`` or ``test``: ``root/SPLIT.txt`` lists its label images.
        seq_len: frames per clip, the labelled frame last (the paper: 6 around each label).
        frame_step: take every N-th video frame (CamVid is 30 fps, labelled at 1 Hz).
        size: (H, W) to resize frames (bilinear) and labels (nearest) to, or None.
        channels: 1 (grey) or 3 (RGB).
        label_set: the classes; default ``root/classes.json`` if it exists, else
            :data:`CAMVID_11`.
        label_format: ``"auto"`` (RGB label images are colour-coded, grey/palette ones hold
            class ids), ``"color"`` or ``"index"``.

    Items as the module docstring says: labels are known at the last frame only.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        *,
        seq_len: int = 6,
        frame_step: int = 1,
        size: tuple[int, int] | int | None = None,
        channels: int = 3,
        label_set: LabelSet | None = None,
        label_format: str = "auto",
    ) -> None:
        self.root = root = Path(root)
        if not root.is_dir():
            raise VstmError(f"CamVid: {root} is not a folder; --data takes the CamVid root")
        if seq_len < 1 or frame_step < 1:
            raise VstmError(
                f"CamVid: seq_len and frame_step must be >= 1, got {seq_len}, {frame_step}"
            )
        if channels not in (1, 3):
            raise VstmError(f"CamVid: channels must be 1 or 3, got {channels}")
        if label_format not in ("auto", "color", "index"):
            raise VstmError(
                f"CamVid: label_format must be auto, color or index, got {label_format!r}"
            )
        if label_set is None:
            cls_file = root / "classes.json"
            label_set = load_label_set(cls_file) if cls_file.is_file() else CAMVID_11
        self.label_set = label_set
        self.split, self.seq_len, self.frame_step = split, seq_len, frame_step
        self.channels, self.label_format = channels, label_format
        self.size = (
            (size, size) if isinstance(size, int) else (None if size is None else tuple(size))
        )
        self.clips = self._index()

    def _index(self) -> list[_Clip]:
        root, split = self.root, self.split
        listing = root / f"{split}.txt"
        if not listing.is_file():
            raise VstmError(
                f"CamVid: {listing} does not exist; list the label images of the {split!r} "
                "split there, one name per line (e.g. 0001TP_006690_L.png)"
            )
        names = [ln.strip() for ln in listing.read_text().splitlines() if ln.strip()]
        if not names:
            raise VstmError(f"CamVid: {listing} lists no label images; add one name per line")
        label_dir = root / "labels"
        if not label_dir.is_dir():
            raise VstmError(f"CamVid: {label_dir} is missing; put the label images there")
        frames_cache: dict[str, dict[int, Path]] = {}
        clips = []
        for name in names:
            label = label_dir / Path(name).name
            if not label.suffix:
                hits = [label.with_suffix(s) for s in _IMAGE_SUFFIXES]
                label = next((h for h in hits if h.is_file()), label.with_suffix(".png"))
            if not label.is_file():
                raise VstmError(
                    f"CamVid: label file {label} (listed in {listing}) is missing; add it or "
                    f"remove it from {listing.name}"
                )
            m = _LABEL_NAME.match(label.stem)
            if m is None:
                raise VstmError(
                    f"CamVid: cannot read the sequence and frame number from {label.name}; "
                    "name label images SEQ_NUMBER[_L].png (e.g. 0001TP_006690_L.png)"
                )
            seq, num = m["seq"], int(m["num"])
            if seq not in frames_cache:
                frames_cache[seq] = self._frames_of(seq)
            frames = frames_cache[seq]
            wanted = [num - (self.seq_len - 1 - j) * self.frame_step for j in range(self.seq_len)]
            missing = [n for n in wanted if n not in frames]
            if missing:
                raise VstmError(
                    f"CamVid: {label.name} needs frames {missing[:3]} of sequence {seq} "
                    f"(clip of {self.seq_len}, step {self.frame_step}) but "
                    f"{root / 'frames' / seq} lacks them; extract them or shorten --seq-len"
                )
            clips.append(_Clip(str(label), tuple(str(frames[n]) for n in wanted)))
        return clips

    def _frames_of(self, seq: str) -> dict[int, Path]:
        folder = self.root / "frames" / seq
        if not folder.is_dir():
            raise VstmError(
                f"CamVid: no frame folder {folder} for sequence {seq}; extract the video's "
                "frames there (e.g. ffmpeg -i 0001TP.MXF frames/0001TP/%06d.png)"
            )
        out: dict[int, Path] = {}
        for f in folder.iterdir():
            m = _NUMBER.search(f.stem)
            if f.suffix.lower() in _IMAGE_SUFFIXES and m is not None:
                out[int(m.group(1))] = f
        return out

    def __len__(self) -> int:
        return len(self.clips)

    def __repr__(self) -> str:
        return (
            f"CamVidClips({str(self.root)!r}, split={self.split!r}, clips={len(self)}, "
            f"seq_len={self.seq_len}, frame_step={self.frame_step}, size={self.size}, "
            f"classes={self.label_set.num_classes})"
        )

    def read_labels(self, path: str | os.PathLike) -> torch.Tensor:
        """One label image -> int64 (H, W) class ids, VOID where unknown (before resizing)."""
        img = _open_image(Path(path), "label image")
        fmt = self.label_format
        if fmt == "auto":
            fmt = "color" if img.mode in ("RGB", "RGBA") else "index"
        if fmt == "color":
            ids = self.label_set.encode(np.asarray(img.convert("RGB")))
        else:
            if img.mode not in ("L", "P", "I", "I;16"):
                raise VstmError(
                    f"{path}: label image of mode {img.mode} cannot hold class ids; save it "
                    "as an 8-bit grey or palette PNG, or use colour labels"
                )
            ids = np.asarray(img, dtype=np.int64).copy()
            ids[(ids < 0) | (ids >= self.label_set.num_classes)] = VOID
        return torch.from_numpy(ids)

    def _frame(self, path: str) -> torch.Tensor:
        img = _open_image(Path(path), "frame").convert("L" if self.channels == 1 else "RGB")
        if self.size is not None and (img.height, img.width) != self.size:
            img = img.resize((self.size[1], self.size[0]), Image.Resampling.BILINEAR)
        a = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).float().div_(255.0)
        return a.unsqueeze(0) if self.channels == 1 else a.permute(2, 0, 1)  # (C, H, W)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        clip = self.clips[i]
        frames = torch.stack([self._frame(f) for f in clip.frames])  # (T, C, H, W)
        lab = self.read_labels(clip.label)  # (h, w)
        h, w = frames.shape[-2:]
        if lab.shape != (h, w):
            lab = F.interpolate(lab[None, None].float(), size=(h, w), mode="nearest")[0, 0]
            lab = lab.long()
        labels = torch.full((self.seq_len, h, w), VOID, dtype=torch.int64)
        labels[-1] = lab
        labelled = torch.zeros(self.seq_len, dtype=torch.bool)
        labelled[-1] = True
        return {"frames": frames, "labels": labels, "labelled": labelled}


def parse_size(size: str | int | None) -> int | tuple[int, int] | None:
    """``"64"`` -> 64, ``"180x240"`` -> (180, 240) (height x width), None -> None.

    >>> parse_size("180x240"), parse_size("32"), parse_size(None)
    ((180, 240), 32, None)
    """
    if size is None or isinstance(size, int):
        return size
    parts = str(size).lower().split("x")
    try:
        vals = [int(p) for p in parts]
    except ValueError:
        vals = []
    if len(vals) not in (1, 2) or min(vals, default=0) < 1:
        raise VstmError(f"--size {size!r}: expected N or HxW in pixels, e.g. 64 or 180x240")
    return vals[0] if len(vals) == 1 else (vals[0], vals[1])


def build_seg_dataset(
    data: str,
    *,
    split: str,
    seq_len: int,
    num_sequences: int | None = None,
    seed: int = 0,
    size: int | tuple[int, int] | None = None,
    channels: int = 1,
    binarize: bool = True,
    mnist_dir: str | None = None,
    dense: bool = False,
    frame_step: int = 1,
    classes: str | None = None,
) -> Dataset:
    """The labelled data set ``--data`` names: ``moving-mnist`` (labelled Moving MNIST) or a
    CamVid root. ``dense`` (Moving MNIST) gives every frame its labels, for evaluation.
    Commands reach it through ``vstm.data.build_dataset(..., labels=True)``."""
    if canonical_data(data) in BUILTIN_DATA:
        if classes is not None:
            raise VstmError("--classes applies to CamVid data only; leave it out for moving-mnist")
        return LabelledMovingMNIST(
            split,
            num_sequences=num_sequences,
            seq_len=seq_len,
            size=64 if size is None else size,
            binarize=binarize,
            seed=seed,
            channels=channels,
            mnist_dir=mnist_dir,
            dense=dense,
        )
    label_set = load_label_set(classes) if classes else None
    ds = CamVidClips(
        data,
        split,
        seq_len=seq_len,
        frame_step=frame_step,
        size=size,
        channels=channels,
        label_set=label_set,
    )
    return ds


def label_set_of(ds: Dataset) -> LabelSet:
    """The :class:`LabelSet` of a data set built by :func:`build_seg_dataset`."""
    inner = getattr(ds, "dataset", ds)  # a Subset
    return inner.label_set
