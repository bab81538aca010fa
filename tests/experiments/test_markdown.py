"""vstm.experiments.markdown renders committed results again, from their JSON alone (no
measurement, no training): the reports' sections and tables come back."""

import json
from pathlib import Path

from vstm.experiments.markdown import bench_markdown, table1_markdown
from vstm.experiments.table1 import PAPER_TABLE1

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"


def test_bench_markdown_from_the_committed_json():
    # --json keeps the summary flat at the top level and the rest under "details"
    payload = json.loads((RESULTS / "bench.json").read_text())
    summary = {k: v for k, v in payload.items() if k not in ("command", "machine", "details")}
    res = {**payload["details"], "machine": payload["machine"], "summary": summary}
    text = bench_markdown(res, payload["command"])
    assert text.startswith(f"# Speed on this machine\n\nCommand: `{payload['command']}`")
    assert "\n## Targets\n" in text and "\n## Notes\n" in text
    assert "| naive reference training (fp32) |" in text
    assert text.count("| vstm training (fp32") == 1  # chosen path fp32 or not: one fp32 row
    assert "`vstm.models.reference.NaiveAEConvLSTMFlow`" in text


def test_bench_markdown_shows_cuda_graph_streaming_when_measured():
    payload = json.loads((RESULTS / "bench.json").read_text())
    summary = {k: v for k, v in payload.items() if k not in ("command", "machine", "details")}
    res = {**payload["details"], "machine": payload["machine"], "summary": summary}
    assert "CUDA graph" not in bench_markdown(res, payload["command"])
    graphs = {"64x64": {"fps": 812.5, "times": [0.1, 0.11], "precision": "bf16"}}
    graphs["64x64"]["max_abs_diff_vs_eager"] = 0.0
    text = bench_markdown({**res, "stream_graphs": graphs}, payload["command"])
    row = "| streaming step replayed from a CUDA graph, batch 1, 64x64 (bf16; largest difference"
    assert row in text and "| 812" in text and "CUDA graph 64x64 1.10" in text


def test_table1_markdown_from_the_committed_json():
    report = json.loads((RESULTS / "table1_shipped.json").read_text())
    text = table1_markdown(report, PAPER_TABLE1["ae-convlstm-flow"][2])
    assert text.startswith("# Table 1 under one protocol\n")
    assert f"Command: `{report['command']}`" in text
    assert sum(line.startswith("| AE-") for line in text.splitlines()) >= len(report["rows"]) - 4
    assert "| Motion t -> t+1 | EPE (px) | Angular error (deg) |" in text
