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


def _continue(run, out, **changes):
    """Warm-start ``out`` from ``run``'s best weights under Table 1's tiny protocol with
    ``changes`` (a continuation with its own recipe)."""
    import dataclasses

    from vstm.experiments.table1 import protocol_config
    from vstm.train.loop import train

    cfg = protocol_config(
        "ae-conv", out.parent.parent, recipe="paper", batch_size=16, seed=0, device="cpu",
        precision="fp32", epochs=None, budget_minutes=None, tiny=True,
    )  # fmt: skip
    changes = {"init": str(run / "best.safetensors"), "out": str(out), **changes}
    train(dataclasses.replace(cfg, **changes))


def test_score_only_takes_a_continuation_and_says_how_it_continued(tiny, tmp_path, capsys):
    """A run warm-started from a Table 1 run may train under another recipe (an anneal tail):
    --score-only scores it, counts its lineage's steps and names its recipe; a continuation
    that changed the task (here the context) is still refused."""
    out = tmp_path / "cont"
    shutil.copytree(tiny, out)
    run = out / "runs" / "ae-conv"
    shutil.move(run, tmp_path / "ae-conv-before")
    start = json.loads((tmp_path / "ae-conv-before" / "best.json").read_text())["trainer"]["step"]
    _continue(tmp_path / "ae-conv-before", run, lr=3e-4, schedule="cosine", steps=2)
    args = ["reproduce", "table1", "--tiny", "--out", str(out), "--models", "ae-conv"]
    assert main([*args, "--score-only"]) == 0
    capsys.readouterr()
    row = json.loads((out / "table1.json").read_text())["rows"][0]
    assert row["steps"] == start + 2
    assert row["continued"].startswith(f"from {tmp_path / 'ae-conv-before' / 'best.safetensors'} (")
    assert "2 more steps: rmsprop lr 0.0003, cosine decay to lr/100" in row["continued"]
    md = (out / "table1.md").read_text()
    assert "the same for every model, but for the continuations below." in md
    assert f"- AE-Conv: continued {row['continued']}." in md
    other = tmp_path / "other" / "runs" / "ae-conv"
    shutil.copytree(tiny, tmp_path / "other", dirs_exist_ok=True)
    shutil.rmtree(other)
    _continue(tmp_path / "ae-conv-before", other, context=2, steps=1)
    args = [
        "reproduce",
        "table1",
        "--tiny",
        "--out",
        str(tmp_path / "other"),
        "--models",
        "ae-conv",
    ]
    assert main([*args, "--score-only"]) == 2
    assert "context" in capsys.readouterr().err


def test_shipped_rescores_the_weights_the_package_ships(tmp_path, capsys):
    """--shipped scores the package's weights with no run folder of one's own: on Table 1's
    first 32 test sequences each row meets its manifest's check scores, with the compute
    the manifest records; a folder holding another run is not overwritten."""
    from vstm.models import pretrained
    from vstm.models.checkpoint import load_checkpoint

    out = tmp_path / "shipped"
    models = ["ae-conv", "ae-convlstm", "ae-convlstm-flow"]
    args = ["reproduce", "table1", "--shipped", "--models", ",".join(models), "--recipe", "fast"]
    args += ["--precision", "fp32", "--test-sequences", "32", "--figure-sequences", "1"]
    assert main([*args, "--out", str(out)]) == 0
    capsys.readouterr()
    report = json.loads((out / "table1.json").read_text())
    assert report["command"].endswith("--shipped")
    rows = {r["key"]: r for r in report["rows"]}
    for m in models:
        entry = pretrained.find(m, "moving-mnist")
        _, header = load_checkpoint(f"pretrained:{entry.key}")
        init = header["trainer"].get("init")  # a continuation's start, counted in its row
        assert rows[m]["scores"]["bce"] == pytest.approx(entry.check["scores"]["bce"], rel=5e-3)
        assert rows[m]["steps"] == entry.compute["steps"] + entry.compute.get("prior_steps", 0)
        prior = init["train_seconds"] if init else 0.0
        assert rows[m]["train_seconds"] == pytest.approx(entry.compute["train_seconds"] + prior)
        assert (rows[m]["continued"] is None) == (init is None)
        if init:
            assert f"to step {init['step']:,} ({init['source']}), then " in rows[m]["trained_on"]
            assert rows[m]["continued"].startswith(f"from {init['source']} (sha256 ")
    assert rows["ae-convlstm"]["trained_on"] == "NVIDIA H200 (fp32)"
    assert main([*args, "--out", str(out)]) == 0  # again: the same files, kept
    capsys.readouterr()
    foreign = tmp_path / "foreign"
    (foreign / "runs" / "ae-conv").mkdir(parents=True)
    (foreign / "runs" / "ae-conv" / "last.json").write_text("{}")
    assert main([*args, "--out", str(foreign)]) == 2
    assert "holds another run" in capsys.readouterr().err
    assert (foreign / "runs" / "ae-conv" / "last.json").read_text() == "{}"
