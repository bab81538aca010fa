"""End-to-end: tiny vstm segment train / eval / predict runs (seconds) and their errors."""

import json

import pytest

from vstm.cli import main


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("seg")
    options = {
        "segnet": ["depth=2"],
        "segnet-flow": ["seg_depth=2", "hidden_channels=4", "flow_kernel=3"],
    }
    for model, opts in options.items():
        args = ["segment", "train", "--tiny", "--model", model, "--out", str(root / model)]
        for o in opts:
            args += ["--model-option", o]
        assert main(args) == 0
    return root


def test_train_writes_checkpoints_and_logs(runs):
    for model in ("segnet", "segnet-flow"):
        names = {p.name for p in (runs / model).iterdir()}
        assert {"best.safetensors", "last.safetensors", "config.json", "metrics.jsonl"} <= names
        rows = [json.loads(x) for x in (runs / model / "metrics.jsonl").read_text().splitlines()]
        assert [r["step"] for r in rows if r["kind"] == "train"] == [1, 2, 3]
        assert [r["step"] for r in rows if r["kind"] == "val"] == [2, 3]
        head = json.loads((runs / model / "last.json").read_text())
        assert head["model"] == model and head["model_config"]["num_classes"] == 11
    flow_rows = (runs / "segnet-flow" / "metrics.jsonl").read_text()
    assert '"recon": 0.0' not in flow_rows.split("\n")[0]  # reconstruction is trained too


def test_eval_prints_table2_and_writes_files(runs, tmp_path, capsys):
    files = {k: tmp_path / f"x.{k}" for k in ("json", "md", "png", "cons.png")}
    args = ["segment", "eval", "--num", "4", "--batch-size", "4"]
    for model in ("segnet", "segnet-flow"):
        args += ["--checkpoint", str(runs / model / "best.safetensors")]
    args += ["--json", str(files["json"]), "--markdown", str(files["md"])]
    args += ["--figure", str(files["png"]), "--figure-rows", "2"]
    args += ["--consistency", str(files["cons.png"])]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "class avg." in out and "global avg." in out and "mIoU" in out
    for row in ("SegNet ", "SegNet-flow ", "SegNet-flow (SegNet branch)"):
        assert row in out
    result = json.loads(files["json"].read_text())
    r = result["results"]["SegNet-flow"]
    assert set(r["labelled"]["per_class"]) == {*map(str, range(10)), "background"}
    assert 0 <= r["labelled"]["global"] <= 100 and 0 <= r["flip_rate"] <= 1
    assert len(r["flip_rate_per_step"]) == 2  # clips of 3 frames
    assert "| SegNet-flow |" in files["md"].read_text()
    assert files["png"].read_bytes()[:4] == b"\x89PNG"
    assert files["cons.png"].read_bytes()[:4] == b"\x89PNG"


def test_predict_writes_a_video(runs, tmp_path, capsys):
    ckpt = runs / "segnet-flow" / "best.safetensors"
    args = ["segment", "predict", "moving-mnist", "--checkpoint", str(ckpt)]
    assert main([*args, "--out", str(tmp_path), "--num", "1", "--seq-len", "3"]) == 0
    assert (tmp_path / "segmentation.mp4").stat().st_size > 0
    assert (tmp_path / "legend.png").exists()
    assert "3 frames" in capsys.readouterr().out


def test_errors_are_one_line(runs, tmp_path, capsys):
    assert main(["segment", "eval", "--checkpoint", str(tmp_path / "nope.safetensors")]) == 2
    assert "does not exist" in capsys.readouterr().err
    again = ["segment", "train", "--tiny", "--model", "segnet", "--out", str(runs / "segnet")]
    assert main(again) == 2
    assert "already holds a run" in capsys.readouterr().err
    bad = ["segment", "train", "--tiny", "--model-option", "colour=3", "--out", str(tmp_path)]
    assert main(bad) == 2
    assert "unknown key(s) colour" in capsys.readouterr().err


def test_a_run_folder_in_use_is_refused(tmp_path, capsys):
    from vstm.train.faults import RunLock

    out = tmp_path / "busy"
    with RunLock(out):  # another run writing there
        assert main(["segment", "train", "--tiny", "--model", "segnet", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "is in use by process" in err and len(err.strip().splitlines()) == 1
    assert not (out / "config.json").exists()


def test_camvid_layout_trains_and_evaluates(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    root = tmp_path / "camvid"
    (root / "frames" / "0001TP").mkdir(parents=True)
    (root / "labels").mkdir()
    rng = np.random.default_rng(0)
    for n in range(10):
        img = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
        Image.fromarray(img).save(root / "frames" / "0001TP" / f"0001TP_{n:06d}.png")
    names = []
    for n in (3, 5, 7, 9):
        lab = np.zeros((12, 16, 3), np.uint8)
        lab[:6] = (128, 128, 128)  # sky
        lab[6:] = (128, 64, 128)  # road
        names.append(f"0001TP_{n:06d}_L.png")
        Image.fromarray(lab).save(root / "labels" / names[-1])
    (root / "train.txt").write_text("\n".join(names) + "\n")
    (root / "val.txt").write_text(names[0] + "\n")
    out = tmp_path / "run"
    args = ["segment", "train", "--tiny", "--data", str(root), "--size", "16x16", "--seq-len"]
    args += ["2", "--out", str(out), "--model-option", "seg_depth=2"]
    args += ["--model-option", "hidden_channels=4", "--model-option", "flow_kernel=3"]
    assert main(args) == 0
    assert json.loads((out / "last.json").read_text())["model_config"]["in_channels"] == 3
    ev = ["segment", "eval", "--checkpoint", str(out / "last.safetensors"), "--split", "train"]
    assert main(ev) == 0
    text = capsys.readouterr().out
    assert "Sky" in text and "Bicyclist" in text and "All frames" not in text


def test_init_ae_loads_a_label_free_flow_model(tmp_path, capsys):
    import torch

    from vstm import build_model
    from vstm.eval.segmentation import load_segmenter
    from vstm.train.checkpoint import save_checkpoint

    torch.manual_seed(1)
    ae_options = dict(hidden_channels=4, flow_kernel=3, enc_kernel=5, lstm_kernel=3, dec_kernel=5)
    # the AE fields SegNet-flow will use; lstm_impl is a setting, not a weight: no mismatch
    ae = build_model("ae-convlstm-flow", **ae_options, lstm_impl="direct")
    save_checkpoint(tmp_path / "ae.safetensors", ae)

    def train(out, *options):
        args = ["segment", "train", "--tiny", "--steps", "1", "--lr", "0", "--out", str(out)]
        args += ["--init-ae", str(tmp_path / "ae.safetensors")]
        for o in ("seg_depth=2", "flow_kernel=3", *options):
            args += ["--model-option", o]
        return main(args)

    assert train(tmp_path / "bad", "hidden_channels=8") == 2
    assert "differs in hidden_channels" in capsys.readouterr().err
    assert train(tmp_path / "ok", "hidden_channels=4") == 0
    model, _ = load_segmenter(tmp_path / "ok" / "last.safetensors")
    for k, v in ae.state_dict().items():  # lr 0: the loaded weights are still there
        assert torch.equal(model.ae.state_dict()[k], v), k


def test_a_run_of_the_other_command_is_named_with_its_command(tmp_path, capsys):
    nf = tmp_path / "next-frame"
    assert main(["train", "--tiny", "--steps", "1", "--out", str(nf)]) == 0
    capsys.readouterr()
    assert main(["segment", "train", "--resume", str(nf)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "next-frame run" in err and "with vstm train" in err
    assert main(["segment", "train", "--tiny", "--steps", "1", "--out", str(nf)]) == 2
    assert "already holds a run" in capsys.readouterr().err
