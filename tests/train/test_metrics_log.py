"""vstm.train.metrics_log.read_metrics: the one reader of a run's metrics.jsonl."""

import json

import pytest

from vstm.errors import VstmError
from vstm.train.metrics_log import read_metrics

ROWS = [
    {"kind": "train", "step": 1, "loss": 0.5},
    {"kind": "train", "step": 2, "loss": 0.4},
    {"kind": "val", "step": 2, "val_loss": 0.45},
]


def write(path, rows, tail=""):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + tail)
    return path


def test_reads_a_run_folder_or_a_file_and_filters_by_kind(tmp_path):
    f = write(tmp_path / "metrics.jsonl", ROWS)
    assert read_metrics(tmp_path) == ROWS
    assert read_metrics(f) == ROWS
    assert [r["step"] for r in read_metrics(tmp_path, "train")] == [1, 2]
    assert read_metrics(tmp_path, "val") == [ROWS[2]]
    shipped = write(tmp_path / "w.metrics.jsonl", ROWS[:1])  # the copy beside shipped weights
    assert read_metrics(shipped) == ROWS[:1]


def test_a_run_that_has_not_logged_yet_has_no_rows(tmp_path):
    assert read_metrics(tmp_path) == []
    assert read_metrics(tmp_path / "nothing.jsonl") == []


@pytest.mark.parametrize("cut", ['{"kind": "train", "st', '{"kind": "train", "step": 3, "lo\n'])
def test_a_cut_last_line_is_dropped(tmp_path, cut):
    write(tmp_path / "metrics.jsonl", ROWS, tail=cut + "\n\n")
    assert read_metrics(tmp_path) == ROWS


def test_blank_lines_are_skipped(tmp_path):
    (tmp_path / "metrics.jsonl").write_text("\n" + json.dumps(ROWS[0]) + "\n\n")
    assert read_metrics(tmp_path) == ROWS[:1]


@pytest.mark.parametrize("bad", ['{"kind": "tr', "[1, 2]"])
def test_a_damaged_line_before_the_last_names_the_file_and_line(tmp_path, bad):
    lines = [json.dumps(ROWS[0]), bad, json.dumps(ROWS[1])]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(VstmError, match=r"metrics\.jsonl:2: not a JSON"):
        read_metrics(tmp_path)
