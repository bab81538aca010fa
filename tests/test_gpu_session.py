"""tools/gpu/gpu_session.py and precision_compare.py run (checked on CPU with tiny models, so
that a session lent a GPU only runs them)."""

import importlib.util
import json
import os
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {"gpu_session": ROOT / "tools" / "gpu", "precision_compare": ROOT / "benchmarks"}


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS[name] / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gpu_session_cpu_tiny_packs_each_job(tmp_path):
    out = tmp_path / "out"
    args = ["--device", "cpu", "--tiny", "--out", str(out), "--threads", "1"]
    assert (
        _load("gpu_session").main([*args, "--skip", "flow-bf16,fclstm,convlstm,bench,cpu-bench"])
        == 0
    )
    session = json.loads((out / "session.json").read_text())
    assert {n: j["returncode"] for n, j in session["jobs"].items()} == {"flow-fp32": 0, "diag": 0}
    assert sorted(p.name for p in out.iterdir()) == [
        "diag.tar", "flow-fp32.last.safetensors", "flow-fp32.tar", "session.json",
    ]  # fmt: skip
    with tarfile.open(out / "flow-fp32.tar") as tar:
        names = tar.getnames()
    assert "flow-fp32/table1.json" in names and "flow-fp32/log.txt" in names
    assert not any(n.endswith("last.safetensors") for n in names)  # optimiser state rides apart


def _fake_run(folder: Path, precision: str, offset: float) -> Path:
    folder.mkdir(parents=True)
    rows = [{"kind": "train", "step": s, "recon": 0.1 + offset + 1 / s, "frames_per_s": 100.0}
            for s in range(2, 41, 2)]  # fmt: skip
    rows += [{"kind": "val", "step": 20, "val_loss": 0.2 + offset}]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    header = {"train_config": {"precision": precision}, "trainer": {"step": 40}}
    (folder / "last.json").write_text(json.dumps(header))
    return folder


def test_precision_compare_pairs_the_same_steps(tmp_path):
    a = _fake_run(tmp_path / "a", "fp32", 0.0)
    b = _fake_run(tmp_path / "b", "bf16", 0.01)
    out = tmp_path / "out"
    args = ["--fp32", str(a), "--bf16", str(b), "--out", str(out), "--windows", "2"]
    assert _load("precision_compare").main(args) == 0
    r = json.loads((out / "precision_compare.json").read_text())
    assert len(r["paired_train"]) == 2
    for w in r["paired_train"]:
        assert abs(w["diff_mean"] - 0.01) < 1e-9 and w["diff_se"] < 1e-9
    assert r["validation"] == [{"step": 20, "fp32": 0.2, "bf16": pytest.approx(0.21)}]
    assert (out / "precision_compare.png").stat().st_size > 0


def test_gpu_session_flow_long_continues_a_carried_run(tmp_path, write_video):
    first = tmp_path / "first"
    args = ["--device", "cpu", "--tiny", "--threads", "1"]
    skip = "flow-fp32,fclstm,convlstm,diag,bench,cpu-bench"
    assert _load("gpu_session").main([*args, "--out", str(first), "--skip", skip]) == 0
    carried = first.parent / "gpu_session_work" / "flow-bf16" / "runs" / "ae-convlstm-flow"
    out = tmp_path / "second" / "out"
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "a.avi", 40)
    plan = ["--plan", "flow-long", "--resume-from", str(carried), "--skip", "bench,cpu-bench"]
    plan += ["--video-data", str(videos)]
    assert _load("gpu_session").main([*args, "--out", str(out), *plan]) == 0
    session = json.loads((out / "session.json").read_text())
    assert {n: j["returncode"] for n, j in session["jobs"].items()} == {
        "flow-resume": 0, "flow-cosine": 0, "figure6": 0,
    }  # fmt: skip
    work = out.parent / "gpu_session_work"
    resumed = json.loads(
        (work / "flow-resume" / "runs" / "ae-convlstm-flow" / "last.json").read_text()
    )
    assert resumed["trainer"]["step"] == 8  # 3 carried steps continued to 2 tiny epochs
    assert [m["from_step"] for m in resumed["trainer"]["machines"]] == [0, 3]
    cosine = json.loads((work / "flow-cosine" / "table1.json").read_text())
    assert cosine["protocol"]["recipe"] == "fast-cosine"
    with tarfile.open(out / "figure6.tar") as tar:
        assert "figure6/figure6.png" in tar.getnames()
    assert {"flow-resume.last.safetensors", "flow-cosine.last.safetensors"} <= {
        p.name for p in out.iterdir()
    }


def test_gpu_session_real_video_plan_in_one_call(tmp_path, write_video):
    """--plan real-video from a committed-style run state: resumed, restarted at a GPU
    batch, the paper model beside it, each scored on held-out frames, all in one call."""
    from vstm.cli import main as vstm_main

    videos = tmp_path / "videos"
    videos.mkdir()
    for i, n in enumerate((40, 48)):
        write_video(videos / f"v{i}.avi", n, seed=i)
    state = tmp_path / "state"
    tiny = ["train", "--tiny", "--model", "ae-convlstm-pixelflow", "--data", str(videos)]
    tiny += ["--holdout", "0.2", "--frame-step", "2", "--size", "32", "--context", "3"]
    tiny += ["--channels", "3"]
    assert vstm_main([*tiny, "--steps", "2", "--out", str(state)]) == 0
    out = tmp_path / "out"
    args = ["--plan", "real-video", "--device", "cpu", "--tiny", "--out", str(out)]
    args += ["--resume-from", str(state), "--video-data", str(videos), "--threads", "1"]
    args += ["--skip", "bench,cpu-bench"]
    assert _load("gpu_session").main(args) == 0
    session = json.loads((out / "session.json").read_text())
    assert {n: j["returncode"] for n, j in session["jobs"].items()} == {
        "pixelflow-resume": 0, "pixelflow-b32": 0, "paper-real": 0, "forecast-10": 0,
    }  # fmt: skip
    assert session["graph_check_returncode"] == 0  # graphed step against eager, first
    assert session["graph_matched"]  # so the real-video trainings replay the step's graph
    assert "--cuda-graph" in session["jobs"]["pixelflow-b32"]["command"]
    assert "--cuda-graph" not in session["jobs"]["forecast-10"]["command"]
    with tarfile.open(out / "graph.tar") as tar:
        check = json.load(tar.extractfile("graph/graph_check.json"))
    assert check["max_loss_difference"] == 0.0  # on CPU the same function runs eagerly
    assert set(check["layouts"]) == {"plain", "cudnn-benchmark", "channels-last"}
    assert all(v["frames_per_s"] > 0 for v in check["layouts"].values())
    for name in session["jobs"]:
        scored = "eval_10to10.json" if name == "forecast-10" else "figure6/figure6.json"
        with tarfile.open(out / f"{name}.tar") as tar:
            assert f"{name}/{scored}" in tar.getnames(), name
        assert (out / f"{name}.last.safetensors").is_file()  # to continue it next time


def test_gpu_session_forecast_plan_in_one_call(tmp_path):
    """--plan forecast (issue 25): the graph check, then the flow model in closed loop (its
    step graphed once the check matched), AE-ConvLSTM-pixelflow, and AE-ConvLSTM, each
    scored 10 -> 10, and beside them Table 1's flow row continued (issue 23) and scored on
    Table 1's test set, each under the wsd schedule, packed in at most 8 files with the
    forecasting runs' state for a later session."""
    out = tmp_path / "out"
    args = ["--plan", "forecast", "--device", "cpu", "--tiny", "--out", str(out)]
    args += ["--threads", "1", "--skip", "bench,cpu-bench"]
    assert _load("gpu_session").main(args) == 0
    session = json.loads((out / "session.json").read_text())
    jobs = session["jobs"]
    assert {n: j["returncode"] for n, j in jobs.items()} == {
        "forecast-10": 0, "forecast-pixelflow": 0, "forecast-convlstm": 0, "table1-tail": 0,
    }  # fmt: skip
    assert all("--schedule wsd" in j["command"] for j in jobs.values())
    tail = jobs.pop("table1-tail")["command"]
    assert "--binarize" in tail and "--model ae-convlstm-flow" in tail
    with tarfile.open(out / "table1-tail.tar") as tar:
        scored = json.load(tar.extractfile("table1-tail/eval_table1.json"))
        assert "table1-tail/run/best.safetensors" in tar.getnames()  # the weights to ship
    assert scored["results"]["ae-convlstm-flow"]["sequences"] == 8
    assert scored["seed"] == 2016
    assert session["graph_matched"] and "--cuda-graph" in jobs["forecast-10"]["command"]
    assert "--ss-steps 0" in jobs["forecast-10"]["command"]
    pix = jobs["forecast-pixelflow"]["command"]
    assert "--model ae-convlstm-pixelflow" in pix and "--loss mse" in pix and "--cuda-graph" in pix
    assert "--model ae-convlstm " in jobs["forecast-convlstm"]["command"]
    for name in jobs:
        with tarfile.open(out / f"{name}.tar") as tar:
            scored = json.load(tar.extractfile(f"{name}/eval_10to10.json"))
        model = {"forecast-convlstm": "ae-convlstm", "forecast-pixelflow": "ae-convlstm-pixelflow"}
        model = model.get(name, "ae-convlstm-flow")
        assert scored["results"][model]["sequences"] == 8, name
        assert scored["results"][model]["horizon"] == 10, name
        assert scored["seed"] == 0, name  # the JSON names the generated test set
        keep = name != "forecast-convlstm"  # 8 files: it continues by a warm restart
        assert (out / f"{name}.last.safetensors").is_file() == keep
    assert len(list(out.iterdir())) <= 8  # the device tool brings back 8 files


def test_a_job_that_fails_graphed_is_started_again_eagerly(tmp_path):
    import subprocess
    import sys
    import time

    gs = _load("gpu_session")
    fail_graphed = "import sys; sys.exit(3 if '--cuda-graph' in sys.argv else 0)"
    cmds = {
        "graphed": [sys.executable, "-c", fail_graphed, "--cuda-graph"],
        "eager": [sys.executable, "-c", "raise SystemExit(4)"],  # fails, but not graphed: kept
    }
    (tmp_path / "graphed" / "run").mkdir(parents=True)
    logs = {n: open(tmp_path / f"{n}.log", "w") for n in cmds}  # noqa: SIM115
    procs = {n: subprocess.Popen(c, stdout=logs[n]) for n, c in cmds.items()}
    for p in procs.values():
        p.wait()
    retried: set[str] = set()
    assert gs._retry_eagerly(procs, cmds, logs, retried, tmp_path, {**os.environ}, time.monotonic())
    assert retried == {"graphed"} and "--cuda-graph" not in cmds["graphed"]
    assert procs["graphed"].wait() == 0 and procs["eager"].returncode == 4
    assert not (tmp_path / "graphed" / "run").exists()  # its partial run folder cleared
    assert not gs._retry_eagerly(procs, cmds, logs, retried, tmp_path, {}, 0.0)  # once only
    for f in logs.values():
        f.close()
