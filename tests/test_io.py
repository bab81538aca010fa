"""vstm.io's atomic writes: the whole file or the old one, with the mode a new file gets."""

import os
import stat

import pytest

from vstm.io import atomic_path, atomic_write_text


def test_atomic_write_gives_the_file_the_mode_open_would(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    target = tmp_path / "out.txt"
    atomic_write_text(target, "hello")
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask  # not mkstemp's 0600
    open_made = tmp_path / "plain.txt"
    open_made.write_text("x")
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(open_made.stat().st_mode)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer failed")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
