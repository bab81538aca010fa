"""The 10 -> 10 protocol in OpenSTL's convention: metrics by hand, and ``vstm eval``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from vstm.cli import main
from vstm.errors import VstmError
from vstm.eval.next_frame import (
    OPENSTL_SSIM,
    copy_last_rollout,
    evaluate_rollout,
    model_rollout_predictor,
)
from vstm.metrics import mae, mse, ssim
from vstm.models import build_model
from vstm.models.checkpoint import load_checkpoint
from vstm.train.checkpoint import save_checkpoint


def _ssim_by_hand(x: np.ndarray, y: np.ndarray, win: int = 7, data_range: float = 2.0) -> float:
    """Wang et al.'s SSIM as scikit-image's default computes it, one window at a time:
    uniform win x win windows wholly inside the image, sample (ddof=1) statistics."""
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    h, w = x.shape
    vals = []
    for i in range(h - win + 1):
        for j in range(w - win + 1):
            a = x[i : i + win, j : j + win].ravel()
            b = y[i : i + win, j : j + win].ravel()
            ma, mb = a.mean(), b.mean()
            va, vb = a.var(ddof=1), b.var(ddof=1)
            cov = ((a - ma) * (b - mb)).sum() / (a.size - 1)
            vals.append(
                ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
            )
    return float(np.mean(vals))


def test_mse_mae_summed_over_pixels_by_hand():
    pred = torch.zeros(1, 1, 1, 2, 2)
    target = torch.tensor([0.5, -0.5, 0.0, 1.0]).view(1, 1, 1, 2, 2)
    assert mse(pred, target, pixels="sum").item() == pytest.approx(0.25 + 0.25 + 1.0)
    assert mae(pred, target, pixels="sum").item() == pytest.approx(0.5 + 0.5 + 1.0)
    assert mae(pred, target).item() == pytest.approx(2.0 / 4)
    with pytest.raises(VstmError, match="pixels"):
        mse(pred, target, pixels="max")


def test_openstl_ssim_matches_a_window_by_window_hand_computation():
    rng = np.random.default_rng(0)
    x = rng.random((9, 10))
    y = np.clip(x + rng.normal(scale=0.3, size=x.shape), 0, 1)
    got = ssim(torch.from_numpy(x)[None, None], torch.from_numpy(y)[None, None], **OPENSTL_SSIM)
    assert got.item() == pytest.approx(_ssim_by_hand(x, y), abs=1e-10)
    # and it differs from the project's default SSIM (Gaussian 11x11, data_range 1)
    tx, ty = (torch.from_numpy(a)[None, None] for a in (x, y))
    assert abs(got.item() - _ssim_by_hand(x, y, data_range=1.0)) > 1e-3
    with pytest.raises(Exception, match="11x11"):
        ssim(tx, ty)


def test_evaluate_rollout_matches_hand_computation():
    """Two sequences, context 2, horizon 2, 8x8 frames, a predictor that always says 0."""
    frames = torch.zeros(2, 4, 1, 8, 8)
    frames[0, 2] = 0.5  # error sum 64 * 0.25 = 16, abs sum 32, mean sq 0.25
    frames[0, 3, 0, :2, :2] = 1.0  # 4 pixels: sums 4 and 4, mean sq 1/16
    frames[1, 3] = 1.0  # sums 64 and 64, mean sq 1;  frames[1, 2] exact: 0, 0, 100 dB

    def zeros(context, horizon):
        return torch.zeros(context.shape[0], horizon, *context.shape[2:])

    r = evaluate_rollout(zeros, [{"frames": frames}], context=2, horizon=2)
    assert r["mse"] == pytest.approx((16 + 4 + 0 + 64) / 4)
    assert r["mae"] == pytest.approx((32 + 4 + 0 + 64) / 4)
    assert r["per_step"]["mse"] == pytest.approx([(16 + 0) / 2, (4 + 64) / 2])
    assert r["per_step"]["mae"] == pytest.approx([(32 + 0) / 2, (4 + 64) / 2])
    db = [-10 * math.log10(0.25), -10 * math.log10(1 / 16), 100.0, 0.0]
    assert r["psnr"] == pytest.approx(sum(db) / 4)
    hand = [
        _ssim_by_hand(np.zeros((8, 8)), frames[b, t, 0].double().numpy())
        for b in range(2)
        for t in (2, 3)
    ]
    assert r["ssim"] == pytest.approx(sum(hand) / 4, abs=1e-6)
    assert r["sequences"] == 2 and len(r["per_step"]["ssim"]) == 2
    # batches of one give the same means
    split = [{"frames": frames[:1]}, {"frames": frames[1:]}]
    assert evaluate_rollout(zeros, split, 2, 2)["mse"] == pytest.approx(r["mse"])


def test_evaluate_rollout_rejects_short_sequences():
    with pytest.raises(VstmError, match="at least 20"):
        evaluate_rollout(copy_last_rollout, [{"frames": torch.zeros(1, 12, 1, 8, 8)}], 10, 10)


def test_model_rollout_predictor_is_the_closed_loop_rollout():
    torch.manual_seed(0)
    model = build_model("ae-convlstm", enc_channels=4, hidden_channels=8).eval()
    ctx = torch.rand(2, 3, 1, 16, 16)
    got = model_rollout_predictor(model, "logits")(ctx, 4)
    torch.testing.assert_close(got, model.rollout(ctx, 4).pred)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model(
        "ae-convlstm-flow", enc_channels=4, hidden_channels=8, lstm_kernel=3, flow_kernel=5
    )
    return save_checkpoint(tmp_path_factory.mktemp("ck") / "m.safetensors", model)


def test_cli_10to10_on_a_srivastava_layout_file(ckpt, tmp_path, capsys):
    rng = np.random.default_rng(0)
    arr = (rng.random((20, 3, 64, 64)) > 0.9).astype(np.uint8) * 255  # (T, N, H, W) uint8
    npy = tmp_path / "mnist_test_seq.npy"
    np.save(npy, arr)
    out, curve = tmp_path / "r.json", tmp_path / "curve.png"
    args = ["eval", "--checkpoint", ckpt, "--protocol", "10to10", "--data", npy, "--num", "2"]
    assert main([*map(str, args), "--json", str(out), "--curve", str(curve)]) == 0
    printed = capsys.readouterr().out
    assert "copy-last-frame" in printed and "10 -> 10" in printed
    res = json.loads(out.read_text())
    row = res["results"]["ae-convlstm-flow"]
    assert row["sequences"] == 2 and len(row["per_step"]["mse"]) == 10
    assert 0 < row["mse"] < 64 * 64 and -1 <= row["ssim"] <= 1
    # copy-last-frame on this file by hand: frame 9 against frames 10..19, summed squares
    x = arr[:, :2].astype(np.float64) / 255
    hand = np.mean([((x[t, b] - x[9, b]) ** 2).sum() for t in range(10, 20) for b in range(2)])
    assert res["results"]["copy-last-frame"]["mse"] == pytest.approx(hand, rel=1e-6)
    assert curve.read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "curve_ssim.png").is_file()


def test_cli_10to10_on_generated_moving_mnist(ckpt, tmp_path):
    out = tmp_path / "r.json"
    args = ["eval", "--checkpoint", str(ckpt), "--protocol", "10to10", "--num", "2"]
    assert main([*args, "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["data"] == "moving-mnist" and res["results"]["ae-convlstm-flow"]["horizon"] == 10


def test_benchmark_script_writes_the_table(ckpt, tmp_path):
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "rollout_10to10.py"
    spec = importlib.util.spec_from_file_location("rollout_10to10", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    trained = save_checkpoint(
        tmp_path / "t.safetensors",
        load_checkpoint(ckpt)[0],
        train_config={"context": 10, "horizon": 10, "batch_size": 8, "binarize": False},
        trainer={"step": 1234},
    )
    args = ["--checkpoint", f"tiny={ckpt}", "--checkpoint", f"trained={trained}"]
    args += ["--num", "2", "--out", str(tmp_path)]
    assert mod.main(args) == 0
    text = (tmp_path / "rollout_10to10_table.md").read_text()
    assert "| tiny |" in text and "| copy-last-frame |" in text and "ConvLSTM-S" in text
    res = json.loads((tmp_path / "rollout_10to10.json").read_text())
    assert res["results"]["tiny"]["sequences"] == 2 and res["commands"][0].startswith("vstm eval")
    # each vstm row says how its checkpoint was trained, read from the checkpoint itself
    assert res["results"]["tiny"]["training"] == "not recorded"
    assert res["results"]["trained"]["training"] == "1,234 steps x 8, 10 -> 10 closed loop, grey"
    assert "| tiny | " in text and "steps x " in text and "DMVFN" in text
    assert (tmp_path / "rollout_10to10_curve_tiny.png").is_file()


def test_cli_10to10_draws_the_forecasts_it_scores(ckpt, tmp_path):
    from PIL import Image

    from vstm.data import build_dataset
    from vstm.models.checkpoint import load_checkpoint
    from vstm.viz.figures import forecast_figure

    fig = tmp_path / "forecast.png"
    args = ["eval", "--checkpoint", str(ckpt), "--protocol", "10to10", "--num", "2"]
    assert main([*args, "--figure", str(fig), "--figure-sequences", "2"]) == 0
    drawn = np.asarray(Image.open(fig).convert("RGB"))
    # the same picture from the first two test sequences and the model's own rollout
    model, _ = load_checkpoint(ckpt)
    ds = build_dataset("moving-mnist", split="test", seq_len=20, num_sequences=2, seed=0)
    clips = torch.stack([ds[i]["frames"] for i in range(2)])
    with torch.no_grad():
        r = model.rollout(clips[:, :10], 10, "logits")
    from vstm.metrics import flow_to_motion

    expected = forecast_figure(clips[:, :10], clips[:, 10:], r.pred, flow_to_motion(r.flow, 2))
    assert drawn.shape == expected.shape  # 2 sequences x (inputs, truth, forecast, flow) rows
    assert np.array_equal(drawn, expected)
