import av
import numpy as np
import pytest

from vstm import ShapeError, VstmError
from vstm.viz import VideoWriter, write_video


def _decode(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _frames(n, h, w):
    return [np.full((h, w, 3), 40 + 40 * i, np.uint8) for i in range(n)]


def test_video_round_trip_count_size_and_content(tmp_path):
    p = tmp_path / "clip.mp4"
    with VideoWriter(p, fps=5) as vw:
        for f in _frames(5, 32, 48):
            vw.write(f)
    frames = _decode(p)
    assert len(frames) == 5
    assert frames[0].shape == (32, 48, 3)
    means = [float(f.mean()) for f in frames]
    assert all(abs(m - (40 + 40 * i)) < 8 for i, m in enumerate(means)), means
    assert sorted(x.name for x in tmp_path.iterdir()) == ["clip.mp4"]


def test_odd_size_is_padded_to_even(tmp_path):
    p = tmp_path / "odd.mp4"
    n = write_video(p, iter(_frames(3, 15, 17)), fps=10)
    frames = _decode(p)
    assert n == 3 and len(frames) == 3 and frames[0].shape == (16, 18, 3)


def test_exception_inside_block_leaves_no_file(tmp_path):
    p = tmp_path / "fail.mp4"
    with pytest.raises(RuntimeError, match="boom"), VideoWriter(p) as vw:
        vw.write(_frames(1, 16, 16)[0])
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_exception_keeps_existing_file_untouched(tmp_path):
    p = tmp_path / "keep.mp4"
    write_video(p, _frames(2, 16, 16))
    before = p.read_bytes()
    with pytest.raises(KeyboardInterrupt), VideoWriter(p) as vw:
        vw.write(_frames(1, 16, 16)[0])
        raise KeyboardInterrupt
    assert p.read_bytes() == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["keep.mp4"]


def test_bad_frames_raise_and_leave_nothing(tmp_path):
    p = tmp_path / "bad.mp4"
    with pytest.raises(ShapeError, match=r"bad\.mp4.*uint8"), VideoWriter(p) as vw:
        vw.write(np.zeros((16, 16, 3), np.float32))
    with pytest.raises(ShapeError, match="first frame"), VideoWriter(p) as vw:
        vw.write(np.zeros((16, 16, 3), np.uint8))
        vw.write(np.zeros((18, 16, 3), np.uint8))
    with pytest.raises(VstmError, match="no frames"):
        write_video(p, [])
    assert list(tmp_path.iterdir()) == []
