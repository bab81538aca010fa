import numpy as np
from PIL import Image

from vstm.cli import main


def _colourful(img: np.ndarray) -> float:
    """Fraction of pixels whose channels differ (grey frames have none)."""
    a = img.astype(int)
    return float(((a.max(axis=-1) - a.min(axis=-1)) > 30).mean())


def test_preview_moving_mnist_draws_frames_and_motion(tmp_path, capsys):
    out = tmp_path / "p.png"
    assert main(["data", "preview", "--out", str(out), "--num", "2", "--seq-len", "4"]) == 0
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape[0] > 4 * 64 and img.shape[1] > 4 * 64  # 2 x (frames + motion) rows, 4 cols
    assert _colourful(img) > 0.01  # motion drawn in colour
    text = capsys.readouterr().out
    assert "MovingMNIST(split='train'" in text and "px/frame" in text


def test_preview_video(tmp_path, square_video, capsys):
    out = tmp_path / "v.png"
    argv = ["data", "preview", "--data", str(square_video), "--out", str(out), "--num", "3"]
    assert main([*argv, "--seq-len", "5", "--channels", "3", "--zoom", "2"]) == 0
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape[0] > 3 * 48 * 2 and img.shape[1] > 5 * 64 * 2
    assert "VideoClips" in capsys.readouterr().out


def test_preview_bad_path_is_one_line_error(tmp_path, capsys):
    missing = tmp_path / "missing.mp4"
    assert main(["data", "preview", "--data", str(missing), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "missing.mp4: no such file" in err
    assert not (tmp_path / "x.png").exists()
