"""vstm.experiments.table1 from Python: the run function with explicit settings, the command
line it records, and the evaluation helpers (the command, ``vstm reproduce table1``, runs end
to end in tests/test_reproduce.py)."""

import json
import math

import pytest
import torch

from vstm.errors import VstmError
from vstm.experiments import table1
from vstm.experiments.table1 import MODELS, Table1Settings, run_table1


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors on a shared machine: threads only contend
    yield
    torch.set_num_threads(threads)


def test_run_table1_returns_the_report_it_writes_and_prints_nothing(tmp_path, capsys):
    out = tmp_path / "t1"
    s = Table1Settings(out=str(out), models=("ae-conv",), tiny=True, test_sequences=4)
    report = run_table1(s)
    assert capsys.readouterr().out == ""
    assert report == json.loads((out / "table1.json").read_text())
    assert [r["key"] for r in report["rows"]] == ["ae-conv", *table1.BASELINES]
    assert report["rows"][0]["steps"] == 3 and report["protocol"]["test_sequences"] == 4
    cmd = "vstm reproduce table1 --out {} --models ae-conv --recipe paper --test-sequences 4 --tiny"
    assert report["command"] == cmd.format(out)
    assert f"Command: `{report['command']}`" in (out / "table1.md").read_text()
    for name in ("figure5.png", "curves.png"):
        assert (out / name).stat().st_size > 0


def test_command_line_spells_out_what_differs_in_the_papers_row_order():
    assert Table1Settings(out="o").command_line() == "vstm reproduce table1 --out o --recipe paper"
    s = Table1Settings(
        out="o",
        models=("ae-convlstm-flow", "ae-conv"),
        budget_minutes=8.0,
        recipe="fast",
        threads=2,
        score_only=True,
    )
    assert s.command_line() == (
        "vstm reproduce table1 --out o --models ae-conv,ae-convlstm-flow --budget-minutes 8 "
        "--recipe fast --threads 2 --score-only"
    )
    assert Table1Settings(out="o", models=MODELS).command_line().count("--models") == 0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"models": ("ae-conv", "segnet")}, "--models"),
        ({"models": ()}, "--models"),
        ({"recipe": "adamw"}, "--recipe"),
        ({"epochs": 0}, "--epochs"),
        ({"test_sequences": 0}, "--test-sequences"),
    ],
)
def test_bad_settings_are_errors_before_any_work(tmp_path, settings, message):
    out = tmp_path / "x"
    with pytest.raises(VstmError, match=message):
        run_table1(Table1Settings(out=str(out), tiny=True, **settings))
    assert not out.exists()


def test_missing_opencv_rows_say_so(monkeypatch):
    from vstm.experiments import table1_scores

    monkeypatch.setattr(table1_scores, "_cv2_missing", lambda: "needs OpenCV: pip install x")
    ds = table1.heldout_test_set(3, context=4, size=32)
    rows = table1.evaluate_baselines(ds, context=4, batch_size=3)
    assert math.isfinite(rows["copy-last"]["scores"]["mse"])
    assert rows["dis"] == {"scores": None, "note": "needs OpenCV: pip install x"}
    assert rows["farneback"]["scores"] is None


@pytest.mark.parametrize("window", [4, 6])
def test_last_frame_predictor_equals_full_forward(window):
    from vstm.eval.next_frame import model_predictor
    from vstm.models import build_model

    torch.manual_seed(0)
    model = build_model("ae-conv", window=window, mid_channels=4, kernel=3).eval()
    context = (torch.rand(3, 5, 1, 16, 16) > 0.7).float()  # (B, K, C, H, W)
    full, _ = model_predictor(model, "logits")(context)
    fast, motion = table1.last_frame_predictor(model, "logits")(context)
    assert motion is None and torch.equal(full, fast)
