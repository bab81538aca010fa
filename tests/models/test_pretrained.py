"""Weights shipped inside the package: manifest, checksums, loading by name, their scores."""

import json

import numpy as np
import pytest
import torch

from vstm import build_model, load_checkpoint
from vstm.cli import main
from vstm.errors import VstmError
from vstm.eval.next_frame import clip_scores, evaluate_checkpoint_rollout, moving_mnist_scores
from vstm.models import pretrained
from vstm.models.checkpoint import model_outputs
from vstm.train.checkpoint import read_checkpoint, save_checkpoint

SHIPPED = ["ae-conv/moving-mnist", "ae-convlstm/moving-mnist", "ae-convlstm-flow/moving-mnist"]


# ------------------------------------------------------------------ mechanics (tiny, tmp root)
@pytest.fixture
def tiny_root(tmp_path, monkeypatch):
    """A pretrained folder holding one tiny AE-ConvLSTM-flow, made the package's."""
    torch.manual_seed(0)
    model = build_model("ae-convlstm-flow", hidden_channels=4, flow_kernel=3)
    ckpt = save_checkpoint(tmp_path / "run.safetensors", model, train_config={"loss": "bce"})
    header, tensors = read_checkpoint(ckpt)
    root = tmp_path / "pretrained"
    pretrained.add_entry(
        header,
        tensors,
        dataset="toy",
        command="vstm train --tiny",
        compute={"steps": 1, "sequences": 4, "train_seconds": 1.0, "machine": "test"},
        scores={"bce": 0.5, "sequences": 4},
        check={},
        root=root,
    )
    monkeypatch.setattr(pretrained, "ROOT", root)
    return root, model


def test_entry_loads_by_name_and_by_path_with_the_same_weights(tiny_root):
    root, model = tiny_root
    (entry,) = pretrained.entries()
    assert entry.key == "ae-convlstm-flow/toy" and len(entry.sha256) == 64
    by_name = build_model("ae-convlstm-flow", pretrained="toy")
    by_path, header = load_checkpoint("pretrained:ae-convlstm-flow/toy")
    assert header["pretrained"] == "ae-convlstm-flow/toy"
    for a, b, c in zip(
        model.state_dict().values(),
        by_name.state_dict().values(),
        by_path.state_dict().values(),
        strict=True,
    ):
        assert torch.equal(a, b) and torch.equal(a, c)
    # weights only: no optimiser or RNG tensors ship
    _, tensors = read_checkpoint(root / entry.file)
    assert all(k.startswith("model.") for k in tensors)


def test_a_file_that_differs_from_its_checksum_is_refused(tiny_root):
    root, _ = tiny_root
    path = root / pretrained.entries()[0].file
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x01  # one bit of one weight
    path.write_bytes(bytes(data))
    with pytest.raises(VstmError, match="SHA-256"):
        load_checkpoint("pretrained:ae-convlstm-flow/toy")
    with pytest.raises(VstmError, match="SHA-256"):
        build_model("ae-convlstm-flow", pretrained="toy")
    path.unlink()
    with pytest.raises(VstmError, match="missing"):
        load_checkpoint("pretrained:ae-convlstm-flow/toy")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("pretrained:ae-convlstm-flow", "NAME/DATASET"),
        ("pretrained:ae-conv/toy", "shipped: pretrained:ae-convlstm-flow/toy"),
        ("pretrained:ae-convlstm-flow/kth", "no pretrained weights"),
    ],
)
def test_bad_names_give_one_line_errors(tiny_root, spec, message):
    with pytest.raises(VstmError, match=message) as e:
        load_checkpoint(spec)
    assert "\n" not in str(e.value)


def test_overrides_with_pretrained_are_refused(tiny_root):
    with pytest.raises(VstmError, match="leave out hidden_channels"):
        build_model("ae-convlstm-flow", pretrained="toy", hidden_channels=8)


def test_corrupt_manifest_is_one_line(tiny_root):
    root, _ = tiny_root
    (root / "manifest.json").write_text("{not json")
    with pytest.raises(VstmError, match="manifest"):
        pretrained.entries()


def test_cli_accepts_pretrained_checkpoints(tiny_root, capsys):
    assert main(["info", "--pretrained"]) == 0
    out = capsys.readouterr().out
    assert "pretrained:ae-convlstm-flow/toy" in out and "vstm train --tiny" in out
    assert main(["eval", "--checkpoint", "pretrained:ae-convlstm-flow/nope", "--num", "2"]) == 2
    assert "no pretrained weights" in capsys.readouterr().err


# --------------------------------------------------------------- the weights that really ship
@pytest.mark.parametrize("key", SHIPPED)
def test_shipped_weights_reach_their_manifest_scores(key):
    """Recompute each shipped model's scores on the manifest's small fixed test set.

    The tolerance is the manifest's (relative, per metric): the same weights on another CPU
    differ only in float summation order. Untrained, mismatched or edited weights fail here.
    """
    entry = {e.key: e for e in pretrained.entries()}.get(key)
    assert entry is not None, f"{key} does not ship; see tools/release/pack_pretrained.py"
    name = key.split("/")[0]
    model, header = load_checkpoint(f"pretrained:{key}")
    assert model.name == name and header["pretrained"] == key
    check = entry.check
    if check.get("kind") == "rollout":  # a forecasting model: closed loop on grey sequences
        res = evaluate_checkpoint_rollout(
            model, header, f"pretrained:{key}", check["protocol"], num=check["sequences"],
            seed=check["seed"], binarize=check["binarize"],
        )  # fmt: skip
        scores, copy_last = res["results"][name], res["results"]["copy-last-frame"]
        for metric, rel in check["relative_tolerance"].items():
            assert scores[metric] == pytest.approx(check["scores"][metric], rel=rel), metric
        assert copy_last["mse"] == pytest.approx(check["copy_last"]["mse"], rel=1e-6)
        # trained to forecast: far better than holding the last frame for ten steps
        assert scores["mse"] < 0.6 * copy_last["mse"]
        return
    if check.get("kind") == "clips":  # a video model: its shipped held-out real clips
        with np.load(pretrained.ROOT / check["file"]) as z:
            frames, context = torch.from_numpy(z["frames"]), int(z["context"])
        assert frames.dtype == torch.uint8 and len(frames) == check["sequences"]
        scores = clip_scores(model, model_outputs(header), frames, context)
        copy_last = clip_scores(None, model_outputs(header), frames, context)
        for metric, rel in check["relative_tolerance"].items():
            assert scores[metric] == pytest.approx(check["scores"][metric], rel=rel), metric
        assert copy_last["mse"] == pytest.approx(check["copy_last"]["mse"], rel=1e-6)
        # trained on real video: better than copying the last frame on clips it never saw
        assert scores["mse"] < copy_last["mse"]
        return
    scores = moving_mnist_scores(
        model,
        model_outputs(header),
        sequences=check["sequences"],
        context=check["context"],
        size=check["size"],
        seed=check["seed"],
        binarize=check["binarize"],
    )
    for metric, rel in check["relative_tolerance"].items():
        if metric in check["scores"]:
            assert scores[metric] == pytest.approx(check["scores"][metric], rel=rel), metric
    # and they are trained: far better than copying the last frame
    assert scores["bce"] < 0.15
    if name == "ae-convlstm-flow":  # learned motion, clearly better than none
        assert scores["epe"] < 0.8 * check["zero_motion_epe"]


def test_shipped_flow_model_by_name_equals_by_path():
    a = build_model("ae-convlstm-flow", pretrained="moving-mnist")
    b, _ = load_checkpoint("pretrained:ae-convlstm-flow/moving-mnist")
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))


def test_demo_starts_from_the_shipped_weights(tmp_path, capsys):
    out = tmp_path / "demo"
    no_videos = ["--real-data", str(tmp_path / "no-videos")]  # the real part: its own test
    assert (
        main(["demo", "--out", str(out), "--score-sequences", "16", "--sequences", "2", *no_videos])
        == 0
    )
    text = capsys.readouterr().out
    assert "motion EPE" in text and (out / "figure5.png").is_file()
    assert (out / "predictions.mp4").stat().st_size > 0
    assert (out / "curves.png").is_file()  # from the curve shipped beside the weights
    scores = json.loads((out / "demo_scores.json").read_text())
    assert scores["epe"] < 0.8 * scores["zero_motion_epe"]
    assert scores["bce"] < scores["copy_last_bce"]
    assert not (out / "last.safetensors").exists()  # nothing was trained
    # a from-scratch run is not mixed into the same folder
    assert main(["demo", "--out", str(out), "--from-scratch", "--minutes", "0.01"]) == 2
    # an older version's copy of the shipped weights is replaced by this version's
    best = out / "best.safetensors"
    stale = bytearray(best.read_bytes())
    stale[-1] ^= 1
    best.write_bytes(bytes(stale))
    capsys.readouterr()
    assert (
        main(["demo", "--out", str(out), "--score-sequences", "16", "--sequences", "1", *no_videos])
        == 0
    )
    entry = pretrained.find("ae-convlstm-flow", "moving-mnist")
    assert pretrained.matches(best, entry)


def test_release_tool_ships_a_forecasting_run_with_a_rollout_check(tmp_path):
    """tools/release/pack_pretrained.py --check-protocol 10to10: the entry's scores are the
    run's 10 -> 10 evaluation, its check set the closed-loop protocol on generated grey
    sequences, which the shipped-weights test recomputes the same way."""
    import importlib.util
    from pathlib import Path

    run = tmp_path / "run"
    train = ["train", "--tiny", "--context", "3", "--horizon", "2", "--steps", "2"]
    assert main([*train, "--out", str(run)]) == 0
    scored = ["eval", "--checkpoint", str(run / "best.safetensors"), "--protocol", "10to10"]
    assert main([*scored, "--num", "4", "--json", str(run / "eval_10to10.json")]) == 0
    script = Path(__file__).resolve().parents[2] / "tools" / "release" / "pack_pretrained.py"
    spec = importlib.util.spec_from_file_location("pack_pretrained", script)
    pack = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pack)
    root = tmp_path / "pretrained"
    args = ["--run", str(run), "--dataset", "moving-mnist-10to10", "--command", "vstm train"]
    assert pack.main([*args, "--check-protocol", "10to10", "--root", str(root)]) == 0
    entry = pretrained.find("ae-convlstm-flow", "moving-mnist-10to10", root=root)
    assert entry.scores["sequences"] == 4 and "copy_last_mse" in entry.scores
    check = entry.check
    assert check["kind"] == "rollout" and check["sequences"] == pack.CHECK_SEQUENCES
    model, header = load_checkpoint(root / entry.file)
    again = evaluate_checkpoint_rollout(model, header, str(root / entry.file), "10to10",
                                        num=check["sequences"], seed=check["seed"])  # fmt: skip
    assert again["results"]["ae-convlstm-flow"]["mse"] == pytest.approx(check["scores"]["mse"])
    assert again["results"]["copy-last-frame"]["mse"] == pytest.approx(check["copy_last"]["mse"])


def test_eval_with_seed_2016_scores_table1s_test_set(tmp_path):
    """README: `vstm eval ... --seed 2016 --num 3000` gives Table 1's row. Its test set is
    Table 1's (moving_mnist_test_set); the default seed (0) is another held-out set."""
    from vstm.eval.next_frame import TEST_SEED

    torch.manual_seed(0)
    model = build_model("ae-convlstm-flow", hidden_channels=4, flow_kernel=3).eval()
    tc = {"loss": "bce", "data": "moving-mnist", "binarize": True}
    ckpt = save_checkpoint(tmp_path / "run.safetensors", model, train_config=tc)
    table1 = moving_mnist_scores(model, "logits", sequences=6, seed=TEST_SEED, binarize=True)

    def cli_bce(seed: int) -> float:
        out = tmp_path / f"eval{seed}.json"
        argv = ["eval", "--checkpoint", str(ckpt), "--num", "6", "--seed", str(seed)]
        assert main([*argv, "--precision", "fp32", "--json", str(out)]) == 0
        return json.loads(out.read_text())["results"]["ae-convlstm-flow"]["bce"]

    assert cli_bce(TEST_SEED) == pytest.approx(table1["bce"], rel=1e-6)
    assert cli_bce(0) != pytest.approx(table1["bce"], rel=1e-6)


def _pack_tool():
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "tools" / "release" / "pack_pretrained.py"
    spec = importlib.util.spec_from_file_location("pack_pretrained", script)
    pack = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pack)
    return pack


def test_release_tool_ships_a_continuation_with_its_lineage_and_table1_scores(tmp_path):
    """A warm-started run ships with its lineage in the header (the steps before it in the
    manifest's compute and listing) and, with --eval-json, the scores `vstm eval --seed 2016`
    gave its checkpoint; an eval of another test set or checkpoint is refused."""
    pack = _pack_tool()
    first, second = tmp_path / "a", tmp_path / "b"
    tiny = ["train", "--tiny", "--binarize", "--precision", "fp32"]
    assert main([*tiny, "--steps", "3", "--out", str(first)]) == 0
    init = ["--init", str(first / "best.safetensors")]
    assert main([*tiny, "--steps", "2", *init, "--out", str(second)]) == 0
    ckpt = second / "best.safetensors"
    scored = ["eval", "--checkpoint", str(ckpt), "--num", "4", "--precision", "fp32"]
    assert main([*scored, "--seed", "2016", "--json", str(tmp_path / "t1.json")]) == 0
    assert main([*scored, "--json", str(tmp_path / "seed0.json")]) == 0
    root = tmp_path / "pretrained"
    args = ["--run", str(second), "--command", "vstm train", "--root", str(root)]
    with pytest.raises(SystemExit, match="seed is 0, not 2016"):
        pack.main([*args, "--eval-json", str(tmp_path / "seed0.json")])
    assert pack.main([*args, "--eval-json", str(tmp_path / "t1.json")]) == 0
    entry = pretrained.find("ae-convlstm-flow", "moving-mnist", root=root)
    t1 = json.loads((tmp_path / "t1.json").read_text())["results"]["ae-convlstm-flow"]
    assert entry.scores["bce"] == t1["bce"] and entry.scores["sequences"] == 4
    assert entry.compute["steps"] == 2 and entry.compute["prior_steps"] == 3
    assert "2 steps after 3 of its start" in pretrained.format_listing(root)
    _, header = load_checkpoint(root / entry.file)
    assert header["trainer"]["init"]["source"] == str(first / "best.safetensors")
    assert header["trainer"]["init"]["step"] == 3


def test_release_tool_adds_a_saved_lineage_only_where_it_fits():
    """--init-lineage (runs from before checkpoints kept their start): the saved record goes
    into the shipped header when it names the run's --init; another start is refused, and a
    run that kept its own lineage keeps it."""
    pack = _pack_tool()
    record = {"source": "pretrained:ae-convlstm-flow/moving-mnist", "step": 18750}
    header, last = {"trainer": {"step": 700}}, {"trainer": {"step": 900}}
    pack._add_lineage(header, last, {"init": record["source"]}, record)
    assert header["trainer"]["init"] == last["trainer"]["init"] == record
    with pytest.raises(SystemExit, match="the record is of"):
        pack._add_lineage({"trainer": {}}, {"trainer": {}}, {"init": "other.safetensors"}, record)
    own = {"trainer": {"init": {"source": "x"}}}
    pack._add_lineage(own, {"trainer": {}}, {"init": record["source"]}, record)
    assert own["trainer"]["init"] == {"source": "x"}
