"""Atomic file writing (a reader never sees a half-written file, a crash leaves the old one),
and checks of output paths made before any work starts."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

from vstm.errors import VstmError

__all__ = [
    "atomic_path",
    "atomic_write_text",
    "check_output_dir",
    "check_output_file",
    "file_kind",
    "read_settings_file",
    "same_path",
]


def _umask() -> int:
    """The process's umask, read once at import (os.umask can only be read by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()
"""The mode ``open()`` would give a new file: atomic writes end with it, not mkstemp's 0600."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    On an exception the temporary file is removed and ``path`` is left as it was. The
    temporary name keeps ``path``'s suffix (or ``suffix``) so that writers which infer the
    format from the extension (PyAV, PIL) still work.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "a.txt") as tmp:
    ...     _ = tmp.write_text("hello")
    >>> (d / "a.txt").read_text(), sorted(p.name for p in d.iterdir())
    ('hello', ['a.txt'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=f".tmp{suffix or path.suffix}", dir=path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp_path, _FILE_MODE)  # readable as any new file would be, not 0600
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _check_parents(path: Path, flag: str) -> None:
    """The nearest existing ancestor of ``path`` must be a writable folder."""
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise VstmError(
                    f"{flag} {path}: cannot write there ({parent} is a file, not a folder)"
                )
            if not os.access(parent, os.W_OK | os.X_OK):
                raise VstmError(f"{flag} {path}: cannot write there ({parent} is not writable)")
            return


def check_output_dir(path: str | os.PathLike, flag: str = "--out") -> Path:
    """Check, before any work, that ``path`` can be (or already is) an output folder.

    >>> check_output_dir(__file__)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vstm.errors.VstmError: --out ... is a file, not a folder; choose a folder for --out
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise VstmError(f"{flag} {path} is a file, not a folder; choose a folder for {flag}")
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise VstmError(f"{flag} {path} is not writable; choose another {flag}")
        return path
    _check_parents(path, flag)
    return path


def check_output_file(path: str | os.PathLike, flag: str) -> Path:
    """Check, before any work, that a file can be written at ``path``."""
    path = Path(path)
    if path.is_dir():
        raise VstmError(f"{flag} {path} is a folder; pass a file name for {flag}")
    _check_parents(path, flag)
    return path


def read_settings_file(path: str | os.PathLike, what: str = "file") -> dict:
    """A table of settings from a ``.toml``, ``.yaml``/``.yml`` or ``.json`` file (config
    files, class lists); ``what`` names the file in the one-line errors."""
    path = Path(path)
    if not path.is_file():
        raise VstmError(f"{what} {path} does not exist; pass the path of a .toml or .yaml")
    text = path.read_bytes().decode("utf-8", errors="replace")
    try:
        if path.suffix == ".toml":
            values = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError as e:
                raise VstmError(
                    f"{what} {path} is YAML but PyYAML is not installed; "
                    "pip install 'vstm[yaml]' or use TOML"
                ) from e
            values = yaml.safe_load(text) or {}
        elif path.suffix == ".json":
            values = json.loads(text)
        else:
            raise VstmError(f"{what} {path}: unknown format; use .toml, .yaml or .json")
    except Exception as e:  # every parser's own error type (TOML, JSON, YAML, bad UTF-8)
        if isinstance(e, VstmError):
            raise
        msg = (str(e).splitlines() or [type(e).__name__])[0]
        raise VstmError(f"{what} {path} could not be parsed: {msg}") from e
    if not isinstance(values, dict):
        raise VstmError(f"{what} {path} must hold a table of key = value pairs")
    return values


_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG", "a PNG image"),
    (0, b"\xff\xd8\xff", "a JPEG image"),
    (0, b"GIF8", "a GIF image"),
    (0, b"\x93NUMPY", "a NumPy .npy array"),
    (0, b"PK\x03\x04", "a zip archive (a PyTorch .pt/.pth pickle file is one)"),
    (0, b"\x1f\x8b", "a gzip file"),
    (0, b"\x1aE\xdf\xa3", "a Matroska/WebM video"),
    (4, b"ftyp", "an MP4/QuickTime video"),
    (8, b"AVI ", "an AVI video"),
)


def file_kind(head: bytes, name: str = "") -> str | None:
    r"""What a file is, from its first bytes (16 or more) and name, in words; None when it
    looks like a safetensors file (an 8-byte header length, then ``{``) or is unrecognised.

    >>> file_kind(b"\x89PNG\r\n\x1a\n" + bytes(8))
    'a PNG image'
    >>> file_kind(b"hello, world\n" + bytes(3)) is None, file_kind(b"epoch,loss\n1,2\n3,4\n")
    (True, 'a text file')
    """
    if head[8:9] == b"{" or len(head) < 16:  # too short to tell: a cut file, most likely
        return None
    for offset, magic, kind in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a pickle file"
    if name.lower().endswith(".onnx") or (head[:1] == b"\x08" and b"\x12" in head[2:4]):
        return "an ONNX model"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text and all(c.isprintable() or c in "\r\n\t" for c in text):
        return "a text file"
    return None


def same_path(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file or folder (links and ``..`` resolved).

    >>> same_path("data/x", "data/../data/x")
    True
    """
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except (OSError, ValueError):  # pragma: no cover
        return os.fspath(a) == os.fspath(b)
