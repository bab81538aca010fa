"""``vstm reproduce table1 --tiny``: end to end, resumable, and its failure modes."""

import json
import math
import shutil

import pytest
import torch
from PIL import Image

from vstm.cli import main
from vstm.experiments.table1 import MODELS, PAPER_TABLE1

ROWS = [
    "ae-conv",
    "ae-fclstm",
    "ae-convlstm",
    "ae-convlstm-flow",
    "oracle",
    "copy-last",
    "dis",
    "farneback",
]
METRICS = ("bce", "mse", "ssim", "psnr")


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors on a shared machine: threads only contend
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("repro") / "t1"
    torch.set_num_threads(1)
    assert main(["reproduce", "table1", "--tiny", "--out", str(out)]) == 0
    return out


def _has_cv2() -> bool:
    try:
        import cv2  # noqa: F401
    except ImportError:
        return False
    return True


def test_tiny_run_writes_every_row_with_finite_numbers(tiny):
    report = json.loads((tiny / "table1.json").read_text())
    rows = {r["key"]: r for r in report["rows"]}
    assert [r["key"] for r in report["rows"]] == ROWS
    for key in ROWS:
        r = rows[key]
        if key in ("dis", "farneback") and not _has_cv2():
            assert "OpenCV" in r["note"] and r["scores"] is None
            continue
        for m in METRICS:
            assert math.isfinite(r["scores"][m]), (key, m, r["scores"])
        assert r["scores"]["sequences"] == 8
        assert 0 <= r["scores"]["bce"] < 20 and 0 <= r["scores"]["mse"] <= 1
    for key in MODELS:
        r = rows[key]
        assert r["parameters"] > 0 and r["paper_parameters"] == PAPER_TABLE1[key][1]
        assert r["steps"] == 3 and r["frames_seen"] == 3 * 4 * 4  # steps x batch x context
        assert r["train_seconds"] > 0 and r["eval_seconds"] >= 0
    # the same protocol for every model
    cfgs = [json.loads((tiny / "runs" / m / "config.json").read_text()) for m in MODELS]
    for key in ("optimizer", "lr", "batch_size", "seed", "loss", "binarize", "context", "size"):
        assert len({json.dumps(c[key]) for c in cfgs}) == 1, key
    assert cfgs[0]["loss"] == "bce" and cfgs[0]["binarize"] is True
    p = report["protocol"]
    assert p["recipe"] == "paper" and p["optimizer"] == "rmsprop" and p["test_split"] == "test"


def test_oracle_row_beats_copy_last_and_states_its_clip(tiny):
    report = json.loads((tiny / "table1.json").read_text())
    rows = {r["key"]: r for r in report["rows"]}
    oracle, copy = rows["oracle"], rows["copy-last"]
    assert 0 < oracle["wrong_pixels"] == oracle["eps"] < 0.5
    assert oracle["scores"]["bce"] < copy["scores"]["bce"]
    assert oracle["scores"]["mse"] < copy["scores"]["mse"]
    assert oracle["scores"]["ssim"] > copy["scores"]["ssim"]  # scored unclipped
    # hard 0/1 pixels clipped at the wrong-pixel rate r: BCE is the binary entropy of r
    r = oracle["wrong_pixels"]
    entropy = -(r * math.log(r) + (1 - r) * math.log(1 - r))
    assert oracle["scores"]["bce"] == pytest.approx(entropy, rel=0.02)
    assert "Oracle:" in (tiny / "table1.md").read_text()


def test_flow_table_and_markdown(tiny):
    report = json.loads((tiny / "table1.json").read_text())
    flow = {f["key"]: f for f in report["flow"]}
    assert set(flow) == {"ae-convlstm-flow", "copy-last", "dis", "farneback"}
    for key in ("ae-convlstm-flow", "copy-last") + (("dis", "farneback") if _has_cv2() else ()):
        assert math.isfinite(flow[key]["epe"]) and math.isfinite(flow[key]["angular_error"])
    # zero motion: the EPE is the mean speed of digit pixels, > 0 for moving digits
    assert flow["copy-last"]["epe"] > 0
    md = (tiny / "table1.md").read_text()
    for text in ("0.0439", "1,035,067", "33,623,649", "copy last frame", "Farnebäck", "EPE"):
        assert text in md
    assert "vstm reproduce table1" in md and "--tiny" in md


def test_figures_are_pngs(tiny):
    fig = Image.open(tiny / "figure5.png")
    # 4 inputs + truth + 4 models + true motion + flow = 11 columns of 64-px (2x32) tiles
    assert fig.format == "PNG" and fig.width >= 11 * 64 and fig.height >= 2 * 64
    assert Image.open(tiny / "curves.png").format == "PNG"


def test_rerun_skips_finished_models(tiny, capsys):
    ckpt = tiny / "runs" / "ae-convlstm-flow" / "last.safetensors"
    before = ckpt.stat().st_mtime_ns
    first = json.loads((tiny / "table1.json").read_text())
    assert main(["reproduce", "table1", "--tiny", "--out", str(tiny)]) == 0
    assert ckpt.stat().st_mtime_ns == before  # not trained again
    again = json.loads((tiny / "table1.json").read_text())
    assert [r["scores"] for r in again["rows"]] == [r["scores"] for r in first["rows"]]
    assert "AE-ConvLSTM-flow" in capsys.readouterr().out


def test_unfinished_model_resumes(tmp_path):
    out = tmp_path / "r"
    args = ["reproduce", "table1", "--tiny", "--models", "ae-conv", "--out", str(out)]
    assert main(args) == 0
    run = out / "runs" / "ae-conv"
    assert json.loads((run / "last.json").read_text())["trainer"]["step"] == 3
    # a larger budget continues the same run: 1 epoch = 16 sequences / batch 4 = 4 steps
    assert main([*args, "--epochs", "1"]) == 0
    assert json.loads((run / "last.json").read_text())["trainer"]["step"] == 4
    rows = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "train"] == [1, 2, 3, 4]
    report = json.loads((out / "table1.json").read_text())
    keys = ["ae-conv", "oracle", "copy-last", "dis", "farneback"]
    assert [r["key"] for r in report["rows"]] == keys
    assert report["rows"][0]["steps"] == 4


def test_score_only_scores_existing_runs_without_training(tiny, tmp_path, capsys):
    out = tmp_path / "scored"
    (out / "runs").mkdir(parents=True)
    shutil.copytree(tiny / "runs" / "ae-conv", out / "runs" / "ae-conv")
    args = ["reproduce", "table1", "--tiny", "--out", str(out), "--models", "ae-conv"]
    assert main([*args, "--score-only", "--epochs", "5"]) == 0  # a larger budget: not trained
    run = out / "runs" / "ae-conv"
    assert json.loads((run / "last.json").read_text())["trainer"]["step"] == 3
    report = json.loads((out / "table1.json").read_text())
    assert report["rows"][0]["steps"] == 3 and report["protocol"]["score_only"] is True
    assert "--score-only" in (out / "table1.md").read_text()
    assert "- Scored on: " in (out / "table1.md").read_text()
    capsys.readouterr()
    empty = ["reproduce", "table1", "--tiny", "--out", str(tmp_path / "none"), "--score-only"]
    assert main(empty) == 2
    err = capsys.readouterr().err
    assert "holds no trained run" in err and len(err.strip().splitlines()) == 1


def test_score_only_ignores_training_precision_and_needs_only_weights(tiny, tmp_path):
    """A run trained in bf16 (elsewhere) is scored as it is; a folder that kept only
    best.safetensors (optimiser state left behind) is enough to score."""
    out = tmp_path / "scored"
    (out / "runs").mkdir(parents=True)
    run = out / "runs" / "ae-conv"
    shutil.copytree(tiny / "runs" / "ae-conv", run)
    header = json.loads((run / "last.json").read_text())
    header["train_config"]["precision"] = "bf16"
    header["trainer"]["machines"] = [
        {"from_step": 0, "machine": "NVIDIA H200", "precision": "bf16", "processes": 1},
        {"from_step": 2, "machine": "NVIDIA H200", "precision": "bf16", "processes": 1},
    ]
    (run / "last.json").write_text(json.dumps(header))
    (run / "last.safetensors").unlink()
    args = ["reproduce", "table1", "--tiny", "--out", str(out), "--models", "ae-conv"]
    assert main([*args, "--score-only", "--precision", "fp32"]) == 0
    row = json.loads((out / "table1.json").read_text())["rows"][0]
    assert row["trained_on"] == "NVIDIA H200 (bf16)"
    assert "NVIDIA H200 (bf16)" in (out / "table1.md").read_text()


def test_changed_protocol_on_existing_runs_is_an_error(tiny, tmp_path, capsys):
    out = tmp_path / "copy"
    shutil.copytree(tiny, out)
    args = ["reproduce", "table1", "--tiny", "--out", str(out), "--recipe", "fast"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "optimizer" in err and "another --out" in err and len(err.strip().splitlines()) == 1


def test_runs_without_schedule_keys_still_match_and_cosine_is_a_protocol(tiny, tmp_path, capsys):
    """A run written before the schedule keys existed reads as the step schedule; asking
    for the cosine recipe on it is a protocol change, not a silent continuation."""
    out = tmp_path / "old"
    shutil.copytree(tiny, out)
    run = out / "runs" / "ae-conv"
    header = json.loads((run / "last.json").read_text())
    for key in ("schedule", "warmup_steps"):
        header["train_config"].pop(key)
    (run / "last.json").write_text(json.dumps(header))
    args = ["reproduce", "table1", "--tiny", "--out", str(out), "--models", "ae-conv"]
    assert main([*args, "--score-only"]) == 0
    capsys.readouterr()
    assert main([*args, "--score-only", "--recipe", "fast-cosine"]) == 2
    assert "another --out" in capsys.readouterr().err
    cos = tmp_path / "cos"
    assert main(["reproduce", "table1", "--tiny", "--out", str(cos), "--models", "ae-conv",
                 "--recipe", "fast-cosine"]) == 0  # fmt: skip
    rows = [
        json.loads(x) for x in (cos / "runs" / "ae-conv" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["lr"] for r in rows if r["kind"] == "train"] == pytest.approx(
        [1e-3 / 300, 2e-3 / 300, 3e-3 / 300]
    )
    assert "300-step linear warm-up, then cosine" in (cos / "table1.md").read_text()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--models", "ae-conv,segnet"], "--models"),
        (["--test-sequences", "0"], "--test-sequences"),
        (["--budget-minutes", "-1"], "--budget-minutes"),
    ],
)
def test_bad_flags(tmp_path, capsys, flags, message):
    assert main(["reproduce", "table1", "--tiny", "--out", str(tmp_path / "x"), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
