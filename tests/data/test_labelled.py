"""Segmentation data: labelled Moving MNIST and the CamVid layout on a tiny fixture."""

import numpy as np
import pytest
import torch
from PIL import Image

from vstm import VstmError
from vstm.data import MovingMNIST
from vstm.data.labelled import CAMVID_11, CamVidClips, LabelledMovingMNIST, load_label_set
from vstm.metrics import VOID

SKY, BUILDING, ROAD, CAR = (128, 128, 128), (128, 0, 0), (128, 64, 128), (64, 0, 128)


def test_labelled_moving_mnist_classes_are_the_digits():
    ds = MovingMNIST("test", num_sequences=3, seq_len=4, binarize=True, with_classes=True)
    batch = ds.generate([0, 1, 2], classes=True)
    frames, classes = batch["frames"][:, :, 0], batch["classes"]  # (B, T, H, W)
    assert torch.equal(classes < 10, frames > 0)  # digit pixels carry a digit class
    ids, _ = ds.trajectories([0, 1, 2])
    for b in range(3):  # the classes present are those of the sequence's digits
        present = set(classes[b].unique().tolist()) - {10}
        assert present <= set(ds.labels[ids[b]].tolist())
    plain = MovingMNIST("test", num_sequences=3, seq_len=4, binarize=True)
    assert set(plain[0]) == {"frames", "motion", "mask"}  # unchanged without with_classes
    assert torch.equal(plain[1]["frames"], ds[1]["frames"])


def test_custom_digits_need_labels():
    digits = np.zeros((2, 28, 28), np.uint8)
    with pytest.raises(VstmError, match="labels"):
        MovingMNIST("train", digits=digits, with_classes=True)


def test_only_the_last_frame_is_labelled_in_training():
    train = LabelledMovingMNIST("train", num_sequences=2, seq_len=5, size=32)
    it = train[0]
    assert it["labelled"].tolist() == [False] * 4 + [True]
    assert (it["labels"][:4] == VOID).all() and (it["labels"][4] != VOID).all()
    dense = LabelledMovingMNIST("train", num_sequences=2, seq_len=5, size=32, dense=True)[0]
    assert (dense["labels"] != VOID).all() and torch.equal(dense["labels"][4], it["labels"][4])


# ------------------------------------------------------------------------- CamVid fixture
def write_camvid(root, seq="0001TP", numbers=range(30, 36), label_at=(35,), colour=True):
    """Frames 0001TP_000030.png .. and colour label images 0001TP_000035_L.png."""
    (root / "frames" / seq).mkdir(parents=True)
    (root / "labels").mkdir(exist_ok=True)
    for n in numbers:
        img = np.full((6, 8, 3), n, np.uint8)
        Image.fromarray(img).save(root / "frames" / seq / f"{seq}_{n:06d}.png")
    names = []
    for n in label_at:
        lab = np.zeros((6, 8, 3), np.uint8)  # void (black) by default
        lab[0:2] = SKY
        lab[2:4, :4] = BUILDING
        lab[4:6, :4] = ROAD
        lab[4:6, 4:] = CAR
        lab[2, 7] = (1, 2, 3)  # a colour in no class: void
        name = f"{seq}_{n:06d}_L.png"
        if colour:
            Image.fromarray(lab).save(root / "labels" / name)
        else:
            ids = CAMVID_11.encode(lab).astype(np.uint8)
            ids[ids == VOID] = 11  # CamVid "Unlabelled" in SegNet's index images
            Image.fromarray(ids, mode="L").save(root / "labels" / name)
        names.append(name)
    return names


@pytest.mark.parametrize("colour", [True, False])
def test_camvid_colour_map_and_void(tmp_path, colour):
    names = write_camvid(tmp_path, colour=colour)
    (tmp_path / "train.txt").write_text("\n".join(names) + "\n")
    ds = CamVidClips(tmp_path, "train", seq_len=3, frame_step=2, channels=3)
    assert len(ds) == 1
    it = ds[0]
    assert it["frames"].shape == (3, 3, 6, 8) and it["labelled"].tolist() == [False, False, True]
    # frames 31, 33, 35 in order, the labelled one last
    assert [round(float(f.mean()) * 255) for f in it["frames"]] == [31, 33, 35]
    lab = it["labels"]
    assert (lab[:2] == VOID).all()
    names = list(CAMVID_11.names)
    assert (lab[2, 0:2] == names.index("Sky")).all()
    assert (lab[2, 2:4, :4] == names.index("Building")).all()
    assert (lab[2, 4:6, :4] == names.index("Road")).all()
    assert (lab[2, 4:6, 4:] == names.index("Car")).all()
    assert (lab[2, 2:4, 4:] == VOID).all()  # the void colour and the unknown colour
    resized = CamVidClips(tmp_path, "train", seq_len=2, size=(12, 16), channels=1)[0]
    assert resized["frames"].shape == (2, 1, 12, 16) and resized["labels"].shape == (2, 12, 16)
    assert (resized["labels"][1, 8:12, 8:] == names.index("Car")).all()  # nearest


def test_camvid_missing_files_give_clear_errors(tmp_path):
    names = write_camvid(tmp_path)
    with pytest.raises(VstmError, match=r"train\.txt does not exist"):
        CamVidClips(tmp_path, "train")
    (tmp_path / "train.txt").write_text(names[0] + "\n0001TP_000099_L.png\n")
    with pytest.raises(VstmError, match=r"label file .*0001TP_000099_L\.png.* is missing"):
        CamVidClips(tmp_path, "train", seq_len=2)
    (tmp_path / "train.txt").write_text(names[0] + "\n")
    with pytest.raises(VstmError, match=r"needs frames \[29\]"):
        CamVidClips(tmp_path, "train", seq_len=7)  # 29..35: frame 29 was never extracted
    (tmp_path / "test.txt").write_text("Seq05VD_f00000_L.png\n")
    (tmp_path / "labels" / "Seq05VD_f00000_L.png").write_bytes(b"not a png")
    with pytest.raises(VstmError, match="no frame folder"):
        CamVidClips(tmp_path, "test", seq_len=1)


def test_class_list_file(tmp_path):
    (tmp_path / "c.json").write_text(
        '{"classes": [{"name": "road", "colors": [[128, 64, 128], [128, 0, 192]]},'
        ' {"name": "sky", "color": [128, 128, 128]}], "void": {"color": [0, 0, 0]}}'
    )
    ls = load_label_set(tmp_path / "c.json")
    img = np.array([[[128, 0, 192], [128, 128, 128], [0, 0, 0]]], np.uint8)
    assert ls.names == ("road", "sky") and ls.encode(img).tolist() == [[0, 1, VOID]]
    (tmp_path / "bad.json").write_text('{"classes": [{"name": "x", "color": [1, 2]}]}')
    with pytest.raises(VstmError, match="at least 2"):
        load_label_set(tmp_path / "bad.json")
