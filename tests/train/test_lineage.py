"""A warm start's lineage: what the weights began from stays in every checkpoint of the run,
through continuations of continuations, and Table 1 counts and names it."""

import json

import pytest
import torch

from vstm.cli import main
from vstm.experiments.runs import continuation_text, trained_on
from vstm.models import pretrained
from vstm.models.checkpoint import load_checkpoint
from vstm.train.lineage import lineage_of, prior_seconds, prior_steps, total_steps
from vstm.train.path import machine_name


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _train(out, *flags) -> dict:
    base = ["train", "--tiny", "--device", "cpu", "--precision", "fp32", "--out", str(out)]
    assert main([*base, *flags]) == 0
    return json.loads((out / "last.json").read_text())


def test_each_warm_start_records_its_lineage_and_the_steps_add_up(tmp_path):
    first = _train(tmp_path / "a", "--steps", "3")
    assert first["trainer"]["init"] is None  # from scratch
    second = _train(
        tmp_path / "b", "--steps", "2", "--init", str(tmp_path / "a" / "best.safetensors")
    )
    init = second["trainer"]["init"]
    assert init["source"] == str(tmp_path / "a" / "best.safetensors")
    assert init["sha256"] == pretrained.sha256_of(tmp_path / "a" / "best.safetensors")
    assert init["step"] == 3 and init["init"] is None
    assert init["train_seconds"] == pytest.approx(first["trainer"]["train_seconds"])
    third = _train(
        tmp_path / "c", "--steps", "4", "--init", str(tmp_path / "b" / "last.safetensors")
    )
    t = third["trainer"]
    assert t["init"]["step"] == 2 and t["init"]["init"]["step"] == 3  # the chain, nested
    assert (prior_steps(t), total_steps(t)) == (5, 9)
    want = first["trainer"]["train_seconds"] + second["trainer"]["train_seconds"]
    assert prior_seconds(t) == pytest.approx(want)
    # best.safetensors carries it too, and a resume keeps it
    assert json.loads((tmp_path / "c" / "best.json").read_text())["trainer"]["init"] == t["init"]
    assert main(["train", "--resume", str(tmp_path / "c"), "--steps", "5"]) == 0
    resumed = json.loads((tmp_path / "c" / "last.json").read_text())["trainer"]
    assert resumed["step"] == 5 and resumed["init"] == t["init"]
    m = f"{machine_name(torch.device('cpu'))} (fp32)"
    a, b = tmp_path / "a" / "best.safetensors", tmp_path / "b" / "last.safetensors"
    assert trained_on(third) == f"{m} to step 3 ({a}), then {m} to step 5 ({b}), then {m}"


def test_a_shipped_start_takes_its_compute_from_the_manifest():
    entry = pretrained.find("ae-convlstm-flow", "moving-mnist")
    _, header = load_checkpoint("pretrained:ae-convlstm-flow/moving-mnist")
    record = lineage_of("pretrained:ae-convlstm-flow/moving-mnist", header)
    assert record["sha256"] == entry.sha256
    assert record["step"] == entry.compute["checkpoint_step"]
    assert record["train_seconds"] == entry.compute["train_seconds"]
    shipped = header["trainer"].get("machines")  # packed since 2026-12-07; else the manifest's
    machine = shipped[0]["machine"] if shipped else entry.compute["machine"].split(",")[0]
    assert record["machines"][0]["machine"] == machine
    assert record["init"] == header["trainer"].get("init")  # a continuation's own start
    head = {"trainer": {"step": 900, "init": record}, "train_config": {
        "optimizer": "adam", "lr": 3e-4, "schedule": "cosine", "warmup_steps": 50,
        "batch_size": 16, "precision": "bf16"}}  # fmt: skip
    text = continuation_text(head)
    start = f"(sha256 {entry.sha256[:8]}, step {record['step']:,}), 900 more steps"
    assert text.startswith(f"from pretrained:ae-convlstm-flow/moving-mnist {start}")
    assert "adam lr 0.0003, 50-step linear warm-up, then cosine decay" in text
