import numpy as np
import pytest
import torch

from vstm import ShapeError, VstmError
from vstm.viz import color_wheel, color_wheel_legend, flow_to_color, read_flo, write_flo


def _flow(u: float, v: float, h: int = 1, w: int = 1) -> np.ndarray:
    f = np.zeros((2, h, w), np.float64)
    f[0], f[1] = u, v
    return f


# ---- colour wheel: values from the Middlebury makeColorwheel (RY15 YG6 GC4 CB11 BM13 MR6)


def test_wheel_segments_match_middlebury():
    wheel = color_wheel()
    assert wheel.shape == (55, 3) and wheel.dtype == np.uint8
    # segment starts: red, yellow, green, cyan, blue, magenta
    starts = {
        0: (255, 0, 0),
        15: (255, 255, 0),
        21: (0, 255, 0),
        25: (0, 255, 255),
        36: (0, 0, 255),
        49: (255, 0, 255),
    }
    for i, rgb in starts.items():
        assert tuple(wheel[i]) == rgb, i
    # inside a ramp: floor(255 * k / n)
    assert tuple(wheel[1]) == (255, 17, 0)  # RY: G = floor(255/15)
    assert tuple(wheel[27]) == (0, 209, 255)  # CB: G = 255 - floor(255*2/11)
    assert tuple(wheel[54]) == (255, 0, 43)  # MR: B = 255 - floor(255*5/6)


def test_unit_right_flow_is_the_first_wheel_colour():
    # atan2(-v, -u) = -pi for (u, v) = (1, 0): index 0 of the wheel, pure red, full colour.
    assert flow_to_color(_flow(1.0, 0.0), max_norm=1.0)[0, 0].tolist() == [255, 0, 0]
    # the sign of a zero y component must not move it to the wheel's other end
    assert flow_to_color(_flow(1.0, -0.0), max_norm=1.0)[0, 0].tolist() == [255, 0, 0]


def test_left_flow_is_cyan_wheel_index_27():
    # atan2(0, 1) = 0 -> fk = 27 exactly -> wheel[27]
    assert flow_to_color(_flow(-1.0, 0.0), max_norm=1.0)[0, 0].tolist() == [0, 209, 255]


def test_down_is_yellow_orange_and_up_is_blue_violet():
    down = flow_to_color(_flow(0.0, 1.0), max_norm=1.0)[0, 0].astype(int)
    up = flow_to_color(_flow(0.0, -1.0), max_norm=1.0)[0, 0].astype(int)
    assert down[0] == 255 and 220 <= down[1] <= 240 and down[2] == 0  # between wheel[13], [14]
    assert up[2] == 255 and up[1] == 0 and 70 <= up[0] <= 100  # between wheel[40], [41]


def test_opposite_directions_differ():
    for u, v in [(1, 0), (0, 1), (0.6, 0.8), (-0.3, 0.95)]:
        a = flow_to_color(_flow(u, v), max_norm=1.0)[0, 0].astype(int)
        b = flow_to_color(_flow(-u, -v), max_norm=1.0)[0, 0].astype(int)
        assert np.abs(a - b).sum() > 200, (u, v, a, b)


def test_zero_flow_is_white_even_for_an_all_zero_field():
    img = flow_to_color(np.zeros((2, 3, 4), np.float32))
    assert img.shape == (3, 4, 3) and img.dtype == np.uint8
    assert (img == 255).all()


def test_magnitude_blends_from_white_then_darkens_past_max_norm():
    # col = 1 - r (1 - wheel) for r <= 1; wheel * 0.75 for r > 1 (red = (1, 0, 0))
    half = flow_to_color(_flow(0.5, 0.0), max_norm=1.0)[0, 0].tolist()
    over = flow_to_color(_flow(2.0, 0.0), max_norm=1.0)[0, 0].tolist()
    assert half == [255, 127, 127]
    assert over == [191, 0, 0]


def test_default_normalisation_is_the_max_over_the_whole_input():
    f = np.zeros((2, 2, 1, 2), np.float32)  # (N, 2, H, W)
    f[0, 0, 0, 0] = 1.0
    f[1, 0, 0, 0] = 2.0  # the maximum lives in the second frame
    img = flow_to_color(f)
    assert img.shape == (2, 1, 2, 3)
    assert img[1, 0, 0].tolist() == [255, 0, 0]
    assert img[0, 0, 0].tolist() == [255, 127, 127]  # half the shared maximum
    assert img[0, 0, 1].tolist() == [255, 255, 255]


def test_torch_and_numpy_agree():
    f = torch.randn(3, 2, 5, 6)
    assert np.array_equal(flow_to_color(f), flow_to_color(f.numpy()))


def test_non_finite_flow_is_black_and_left_out_of_the_maximum():
    f = _flow(0.0, 0.0, 1, 4)
    f[0, 0, 0] = 1.0
    f[0, 0, 1], f[1, 0, 2], f[0, 0, 3] = np.nan, np.inf, -np.inf
    img = flow_to_color(f)
    assert img[0, 0].tolist() == [255, 0, 0]  # max stayed 1, not inf
    assert (img[0, 1:] == 0).all()


@pytest.mark.parametrize("shape", [(3, 4, 4), (4, 4), (1, 3, 4, 4), (1, 1, 2, 4, 4)])
def test_bad_flow_shape_raises(shape):
    with pytest.raises(ShapeError, match="flow_to_color"):
        flow_to_color(np.zeros(shape))


def test_bad_max_norm_raises():
    with pytest.raises(VstmError, match="max_norm"):
        flow_to_color(_flow(1, 0), max_norm=0.0)


def test_legend():
    leg = color_wheel_legend()
    assert leg.shape == (151, 151, 3) and leg.dtype == np.uint8
    assert leg[75, 75].tolist() == [255, 255, 255]  # centre: zero flow
    assert leg[75, 150].tolist() == [255, 0, 0]  # right edge: +x at full colour
    assert leg[75, 0].tolist() == [0, 209, 255]  # left edge: -x
    assert leg[0, 0].tolist() == [255, 255, 255]  # outside the circle
    assert color_wheel_legend(33).shape == (33, 33, 3)


# ---- .flo files


def test_flo_round_trip_and_layout(tmp_path):
    flow = np.random.default_rng(0).normal(size=(2, 3, 5)).astype(np.float32)  # H=3, W=5
    p = tmp_path / "a.flo"
    write_flo(p, flow)
    raw = p.read_bytes()
    assert raw[:4] == b"PIEH"
    assert np.frombuffer(raw, "<f4", count=1)[0] == 202021.25
    assert np.frombuffer(raw, "<i4", count=2, offset=4).tolist() == [5, 3]  # width, height
    assert len(raw) == 12 + 3 * 5 * 2 * 4
    pairs = np.frombuffer(raw, "<f4", offset=12)
    assert pairs[0] == flow[0, 0, 0] and pairs[1] == flow[1, 0, 0]  # u, v interleaved
    assert pairs[2] == flow[0, 0, 1]  # then the next pixel in the row
    back = read_flo(p)
    assert back.dtype == np.float32 and back.shape == (2, 3, 5)
    assert np.array_equal(back, flow)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.flo"]  # no temp files left


def test_write_flo_accepts_torch(tmp_path):
    flow = torch.randn(2, 4, 4)
    write_flo(tmp_path / "t.flo", flow)
    assert np.allclose(read_flo(tmp_path / "t.flo"), flow.numpy())


def test_write_flo_rejects_bad_shape(tmp_path):
    with pytest.raises(ShapeError, match="write_flo"):
        write_flo(tmp_path / "x.flo", np.zeros((4, 4, 2)))
    assert not (tmp_path / "x.flo").exists()


def test_read_flo_bad_magic(tmp_path):
    p = tmp_path / "bad.flo"
    write_flo(p, np.zeros((2, 2, 2), np.float32))
    p.write_bytes(b"XXXX" + p.read_bytes()[4:])
    with pytest.raises(VstmError, match=r"bad\.flo.*magic"):
        read_flo(p)


def test_read_flo_truncated(tmp_path):
    p = tmp_path / "short.flo"
    write_flo(p, np.zeros((2, 4, 4), np.float32))
    p.write_bytes(p.read_bytes()[:-3])
    with pytest.raises(VstmError, match=r"short\.flo.*truncated"):
        read_flo(p)
    p.write_bytes(b"PIEH\x01\x00")
    with pytest.raises(VstmError, match=r"short\.flo.*truncated"):
        read_flo(p)


def test_read_flo_missing(tmp_path):
    with pytest.raises(VstmError, match=r"nope\.flo"):
        read_flo(tmp_path / "nope.flo")
