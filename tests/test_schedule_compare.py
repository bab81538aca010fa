"""benchmarks/schedule_compare.py: validation losses paired at the steps every run validated."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "schedule_compare.py"


def _run(folder: Path, schedule: str, vals: dict[int, float], steps: int) -> Path:
    folder.mkdir(parents=True)
    cfg = {"schedule": schedule, "lr": 0.001, "lr_decay": 0.9, "decay_every": 5, "batch_size": 16}
    header = {"train_config": cfg, "trainer": {"step": steps, "machines": []}}
    (folder / "last.json").write_text(json.dumps(header))
    rows = [{"kind": "train", "step": s, "loss": 1.0, "recon": 1.0, "lr": 1e-3} for s in vals]
    rows += [{"kind": "val", "step": s, "epoch": 0, "val_loss": v} for s, v in vals.items()]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_runs_are_compared_up_to_the_shortest(tmp_path):
    a = _run(tmp_path / "a", "step", {10: 0.5, 20: 0.4, 30: 0.3}, steps=30)
    b = _run(tmp_path / "b", "cosine", {10: 0.6, 20: 0.45}, steps=20)
    out = tmp_path / "out"
    argv = [sys.executable, str(SCRIPT), "--run", f"step={a}", "--run", f"cos={b}"]
    argv += ["--machine", "step=GPU X", "--out", str(out)]
    subprocess.run(argv, check=True, capture_output=True)
    report = json.loads((out / "schedule_compare.json").read_text())
    c = report["compare"]
    assert c["up_to_step"] == 20
    assert c["rows"] == [
        {"step": 10, "val": {"step": 0.5, "cos": 0.6}},
        {"step": 20, "val": {"step": 0.4, "cos": 0.45}},
    ]
    assert c["best_val_up_to"] == {"step": 0.4, "cos": 0.45}  # step 30 is past the shortest
    assert report["runs"]["step"]["trained_on"] == "GPU X"
    assert "cosine to lr/100" in report["runs"]["cos"]["schedule"]
    assert (out / "schedule_compare.png").stat().st_size > 0
    assert "| 20 | 0.4000 | 0.4500 |" in (out / "schedule_compare.md").read_text()
