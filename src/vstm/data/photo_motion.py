"""Photo motion: video with exact motion made from natural photographs (DESIGN section 6).

Moving MNIST has exact motion but no texture; real clips have texture but no motion to
score against. This source has both. Each sequence is generated deterministically from
(seed, split, index):

- **background**: a photograph seen through a camera that moves smoothly: translation at a
  constant velocity (up to ``max_speed`` px/frame), rotation (up to 1 degree/frame) and zoom
  (up to 1%/frame) changing at constant rates, an affine map per frame;
- **foreground**: one to three layers, each a blob with a smooth random outline cut from
  another photograph, moving on its own path (velocity up to ``max_speed``, rotation up to 3
  degrees/frame) over the background and over each other, so they occlude and disocclude;
- optionally a smooth global brightness change (``brightness``: amplitude of the gain).

Frames are rendered by bilinear sampling of the photographs (pre-resized so that one frame
pixel is about one photo pixel). Items are dicts like Moving MNIST's (:mod:`vstm.data`):

- ``"frames"`` float32 (T, C, H, W) in [0, 1];
- ``"motion"`` float32 (T-1, 2, H, W): the exact motion of frame t's content to frame t+1 in
  pixels (channel 0 = x right, 1 = y down): the content at ``p`` in frame t is at
  ``p + motion[t][p]`` in frame t+1, so ``warp(frames[t+1], motion[t]) == frames[t]`` where
  the mask holds (up to the bilinear resampling of the texture, and without brightness
  change);
- ``"mask"`` bool (T-1, 1, H, W): pixels whose content is one layer alone in frame t (not
  on an outline) and is still visible, alone and inside the frame in t+1, with all four
  bilinear taps around ``p + motion`` on that same layer.

Photographs come from a folder (any JPEG/PNG/... PIL reads): ``vstm data fetch opencv-photos
DIR`` fetches OpenCV's sample photographs (Debian's ``opencv-doc``). Sorted by name, every
fifth (the 5th, 10th, ...) forms the test pool and the rest the training pool, so test
sequences show photographs no training sequence shows.

>>> import tempfile, numpy as np
>>> from PIL import Image
>>> d = tempfile.mkdtemp()
>>> rng = np.random.default_rng(0)
>>> for i in range(5):
...     Image.fromarray(rng.integers(0, 255, (80, 100, 3), dtype=np.uint8)).save(f"{d}/{i}.png")
>>> ds = PhotoMotion(d, split="train", num_sequences=3, seq_len=4, size=32)
>>> item = ds[0]
>>> tuple(item["frames"].shape), tuple(item["motion"].shape), item["mask"].dtype
((4, 3, 32, 32), (3, 2, 32, 32), torch.bool)
"""

from __future__ import annotations

import functools
import logging
import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from vstm.data.names import DEFAULT_PHOTO_DIR
from vstm.data.video import to_8bit
from vstm.errors import VstmError

__all__ = ["DEFAULT_NUM_SEQUENCES", "PhotoMotion", "photo_pool"]

log = logging.getLogger(__name__)

DEFAULT_NUM_SEQUENCES = {"train": 10_000, "test": 1_000}
_SPLITS = {"train": 1, "test": 2}
_PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
_PHOTO_SCALE = 3
"""Photographs are resized so that their short side is this many frame sides (room for the
camera to travel)."""


def photo_pool(folder: str | os.PathLike, split: str) -> list[Path]:
    """The photographs of ``split`` in ``folder``: sorted by name, every fifth for "test".

    Raises:
        VstmError: the folder is missing or holds fewer than two photographs.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise VstmError(
            f"photo-motion: no folder of photographs at {folder}; fetch OpenCV's with "
            f"'vstm data fetch opencv-photos {DEFAULT_PHOTO_DIR}' (or 'make samples'), or name "
            "your own with --data photo-motion:DIR"
        )
    files = sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in _PHOTO_EXTENSIONS and p.is_file()),
        key=lambda p: p.name.lower(),
    )
    if len(files) < 2:
        raise VstmError(
            f"photo-motion: {folder} holds {len(files)} photograph(s); it needs at least 2 "
            "(a background and a foreground), 5 or more for separate train and test pools"
        )
    if len(files) < 5:
        log.warning(
            "photo-motion: %s holds %d photographs, fewer than 5: train and test share them",
            folder,
            len(files),
        )
        return files
    test = [p for i, p in enumerate(files) if i % 5 == 4]
    return test if split == "test" else [p for i, p in enumerate(files) if i % 5 != 4]


def _load_photo(path: Path, short_side: int, channels: int) -> torch.Tensor:
    """A photograph as float32 (C, h, w) in [0, 1], its short side resized to ``short_side``."""
    try:
        with Image.open(path) as im:
            im = to_8bit(im).convert("RGB" if channels == 3 else "L")
            w, h = im.size
            s = short_side / min(w, h)
            im = im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.BOX)
            a = np.asarray(im, dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError) as e:
        raise VstmError(f"photo-motion: cannot read {path} as an image ({e}); remove it") from e
    if a.ndim == 2:
        a = a[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))


def _rot(theta: np.ndarray) -> np.ndarray:
    """(..., 2, 2) rotation matrices."""
    c, s = np.cos(theta), np.sin(theta)
    return np.stack((np.stack((c, -s), -1), np.stack((s, c), -1)), -2)


def _affine(lin: np.ndarray, off: np.ndarray) -> np.ndarray:
    """(T, 2, 2) linear parts and (T, 2) offsets -> (T, 3, 3) homogeneous maps."""
    m = np.zeros((len(lin), 3, 3))
    m[:, :2, :2], m[:, :2, 2], m[:, 2, 2] = lin, off, 1.0
    return m


class PhotoMotion(Dataset):
    """Sequences of moving photographs with their exact motion (module docstring).

    Args:
        photo_dir: folder of photographs (split into train/test pools by :func:`photo_pool`).
        split: "train" or "test": the photograph pool and the random stream.
        num_sequences: length (defaults: 10,000 train, 1,000 test); any index can be made.
        seq_len: T frames per sequence.
        size: frame side (or (H, W)).
        channels: 1 grey or 3 colour.
        seed: the data set; with split and index it fixes every sequence.
        max_speed: top speed of the camera and of each layer, frame pixels per frame.
        layers: (min, max) foreground layers per sequence.
        brightness: amplitude of a smooth global gain change (0: none).
    """

    def __init__(
        self,
        photo_dir: str | os.PathLike = DEFAULT_PHOTO_DIR,
        *,
        split: str = "train",
        num_sequences: int | None = None,
        seq_len: int = 20,
        size: int | tuple[int, int] = 96,
        channels: int = 3,
        seed: int = 0,
        max_speed: float = 3.0,
        layers: tuple[int, int] = (1, 3),
        brightness: float = 0.0,
    ) -> None:
        if split not in _SPLITS:
            raise VstmError(f"photo-motion: unknown split {split!r}; use 'train' or 'test'")
        self.height, self.width = (size, size) if isinstance(size, int) else tuple(size)
        if min(self.height, self.width) < 8:
            raise VstmError(f"photo-motion: frame size {size} is too small; use --size 8 or more")
        if seq_len < 2:
            raise VstmError(f"photo-motion: seq_len must be at least 2, got {seq_len}")
        if channels not in (1, 3):
            raise VstmError(f"photo-motion: channels must be 1 or 3, got {channels}")
        if not 0 <= layers[0] <= layers[1]:
            raise VstmError(f"photo-motion: layers must be 0 <= min <= max, got {layers}")
        if max_speed < 0 or brightness < 0:
            raise VstmError("photo-motion: max_speed and brightness must be >= 0")
        self.paths = photo_pool(photo_dir, split)
        self.split, self.seed, self.seq_len, self.channels = (
            split,
            int(seed),
            int(seq_len),
            channels,
        )
        self.num_sequences = (
            DEFAULT_NUM_SEQUENCES[split] if num_sequences is None else int(num_sequences)
        )
        self.max_speed, self.layers, self.brightness = float(max_speed), layers, float(brightness)
        self._photos: list[torch.Tensor] | None = None

    def __len__(self) -> int:
        return self.num_sequences

    def __repr__(self) -> str:
        return (
            f"PhotoMotion(split={self.split!r}, num_sequences={self.num_sequences}, "
            f"seq_len={self.seq_len}, size=({self.height}, {self.width}), "
            f"photos={len(self.paths)}, seed={self.seed})"
        )

    @property
    def photos(self) -> list[torch.Tensor]:
        if self._photos is None:  # loaded on first use (and once per worker process)
            side = _PHOTO_SCALE * max(self.height, self.width)
            self._photos = [_load_photo(p, side, self.channels) for p in self.paths]
        return self._photos

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not -self.num_sequences <= i < self.num_sequences:
            raise IndexError(f"sequence {i} out of range for {self.num_sequences} sequences")
        return self.generate(int(i) % self.num_sequences)

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, _SPLITS[self.split], index, 0x70686F74])

    @functools.cached_property
    def _grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Frame pixel coordinates, (H, W, 2) as (x, y) and (H, W, 3) homogeneous: made once."""
        ys, xs = np.mgrid[0 : self.height, 0 : self.width].astype(np.float64)
        pix = np.stack((xs, ys), axis=-1)
        return pix, np.concatenate((pix, np.ones((self.height, self.width, 1))), -1)

    def generate(self, index: int) -> dict[str, torch.Tensor]:
        """Sequence ``index`` (any integer >= 0) as an item (module docstring)."""
        rng = self._rng(index)
        T, H, W = self.seq_len, self.height, self.width
        n_layers = int(rng.integers(self.layers[0], self.layers[1] + 1))
        n_photos = len(self.photos)
        order = rng.permutation(n_photos)
        ids = [int(order[k % n_photos]) for k in range(n_layers + 1)]
        t = np.arange(T, dtype=np.float64)
        centre = np.array([(W - 1) / 2, (H - 1) / 2])

        # Background camera: frame pixel p -> photo point q = c_t + A_t (p - centre).
        bg = self.photos[ids[0]]
        ph, pw = bg.shape[1:]
        ang = math.radians(1.0) * rng.uniform(-1, 1) * t + rng.uniform(-0.2, 0.2)
        zoom = rng.uniform(0.9, 1.2) * (1.0 + 0.01 * rng.uniform(-1, 1)) ** t
        heading = rng.uniform(0, 2 * math.pi)
        vel = self.max_speed * rng.uniform(0, 1) * np.array([math.cos(heading), math.sin(heading)])
        reach = 0.5 * math.hypot(H, W) * zoom.max() + 1.0  # the view's radius in the photo
        travel = vel[None] * t[:, None]  # (T, 2)
        lo = np.array([reach, reach]) - travel.min(0)
        hi = np.array([pw - 1 - reach, ph - 1 - reach]) - travel.max(0)
        c0 = np.where(hi > lo, lo + rng.uniform(0, 1, 2) * np.maximum(hi - lo, 0), (lo + hi) / 2)
        lin = _rot(ang) * zoom[:, None, None]  # (T, 2, 2)
        cam = _affine(lin, c0 + travel - np.einsum("tij,j->ti", lin, centre))  # p -> q

        # Foreground layers: frame pixel p -> layer point u = R(-phi_t)(p - P_t).
        maps, radii, sources = [], [], []
        for k in range(n_layers):
            r = rng.uniform(0.12, 0.25) * min(H, W)
            harm = rng.uniform(-0.15, 0.15, (3, 2))  # outline: cos/sin harmonics 2..4
            p0 = rng.uniform(0.1, 0.9, 2) * np.array([W - 1, H - 1])
            heading = rng.uniform(0, 2 * math.pi)
            v = (
                self.max_speed
                * rng.uniform(0.2, 1)
                * np.array([math.cos(heading), math.sin(heading)])
            )
            phi = rng.uniform(0, 2 * math.pi) + math.radians(3.0) * rng.uniform(-1, 1) * t
            inv_rot = _rot(-phi)  # (T, 2, 2)
            pos = p0[None] + v[None] * t[:, None]  # (T, 2)
            maps.append(_affine(inv_rot, -np.einsum("tij,tj->ti", inv_rot, pos)))
            photo = self.photos[ids[k + 1]]
            qh, qw = photo.shape[1:]
            src = rng.uniform([r + 1, r + 1], [max(qw - r - 2, r + 1), max(qh - r - 2, r + 1)])
            radii.append((r, harm))
            sources.append((photo, src))

        gain = np.ones(T)
        if self.brightness > 0:
            amp = self.brightness * rng.uniform(0, 1)
            gain = 1.0 + amp * np.sin(rng.uniform(0.05, 0.3) * t + rng.uniform(0, 2 * math.pi))
        return self._render(bg, cam, maps, radii, sources, gain)

    def _render(self, bg, cam, maps, radii, sources, gain) -> dict[str, torch.Tensor]:
        T, H, W = self.seq_len, self.height, self.width
        pix, hom = self._grid  # (H, W, 2), (H, W, 3)
        frames = _sample(bg, np.einsum("tij,hwj->thwi", cam, hom)[..., :2])  # (T, C, H, W)
        alphas, layer_maps = [], []
        for m, (r, harm), (photo, src) in zip(maps, radii, sources, strict=True):
            u = np.einsum("tij,hwj->thwi", m, hom)[..., :2]  # (T, H, W, 2) layer coordinates
            a = _blob_alpha(u, r, harm)  # (T, H, W)
            tex = _sample(photo, u + src)  # (T, C, H, W)
            at = torch.from_numpy(a).float()[:, None]
            frames = at * tex + (1 - at) * frames
            alphas.append(a)
            layer_maps.append(m)
        frames = (frames * torch.from_numpy(gain).float()[:, None, None, None]).clamp(0, 1)

        # Which layer each pixel shows alone (0 = background, k = layer k, -1 = a mix).
        alone = np.zeros((T, H, W), dtype=np.int64)
        for k, a in enumerate(alphas, start=1):
            alone = np.where(a >= 0.999, k, np.where(a > 0.001, -1, alone))
        motion = np.zeros((T - 1, H, W, 2))
        for k in range(len(alphas) + 1):
            m = cam if k == 0 else layer_maps[k - 1]  # p -> the layer's own coordinates
            fwd = np.linalg.inv(m[1:]) @ m[:-1]  # (T-1, 3, 3): p in t -> p' in t+1
            moved = np.einsum("tij,hwj->thwi", fwd, hom)[..., :2]
            sel = alone[:-1] == k
            motion[sel] = (moved - pix[None])[sel]
        dest = pix[None] + motion  # (T-1, H, W, 2)
        mask = alone[:-1] >= 0
        x0, y0 = np.floor(dest[..., 0]), np.floor(dest[..., 1])
        mask &= (x0 >= 0) & (y0 >= 0) & (x0 + 1 <= W - 1) & (y0 + 1 <= H - 1)
        xi = np.clip(x0, 0, W - 2).astype(np.int64)
        yi = np.clip(y0, 0, H - 2).astype(np.int64)
        tt = np.arange(T - 1)[:, None, None]
        for dy in (0, 1):
            for dx in (0, 1):
                mask &= alone[1:][tt, yi + dy, xi + dx] == alone[:-1]
        return {
            "frames": frames.contiguous(),
            "motion": torch.from_numpy(motion.transpose(0, 3, 1, 2)).float().contiguous(),
            "mask": torch.from_numpy(mask[:, None]),
        }


def _sample(photo: torch.Tensor, points: np.ndarray) -> torch.Tensor:
    """Bilinear samples of ``photo`` (C, h, w) at ``points`` (T, H, W, 2) photo pixels (x, y),
    the nearest edge pixel outside; -> (T, C, H, W)."""
    _, h, w = photo.shape
    grid = torch.from_numpy(points).float()
    grid = torch.stack((grid[..., 0] * (2 / (w - 1)) - 1, grid[..., 1] * (2 / (h - 1)) - 1), -1)
    src = photo.unsqueeze(0).expand(len(points), -1, -1, -1)
    return F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=True)


def _blob_alpha(u: np.ndarray, r: float, harm: np.ndarray) -> np.ndarray:
    """Coverage (T, H, W) of a blob of radius ``r`` whose outline wobbles by the harmonics
    ``harm`` (3, 2), at layer points ``u`` (T, H, W, 2); one pixel of soft edge."""
    rho = np.hypot(u[..., 0], u[..., 1])
    phi = np.arctan2(u[..., 1], u[..., 0])
    edge = np.ones_like(phi)
    for j, (a, b) in enumerate(harm, start=2):
        edge += a * np.cos(j * phi) + b * np.sin(j * phi)
    return np.clip(r * edge - rho + 0.5, 0.0, 1.0)
