"""A model's raw output -> a frame in [0, 1]: one function, models.to_probabilities."""

import ast
from pathlib import Path

import pytest
import torch

import vstm
from vstm.errors import VstmError
from vstm.models import to_probabilities

SRC = Path(vstm.__file__).parent


def test_logits_become_their_sigmoid_and_values_are_clamped():
    x = torch.tensor([-3.0, -0.25, 0.0, 0.5, 1.0, 4.0])
    assert torch.equal(to_probabilities(x, "logits"), torch.sigmoid(x))
    assert to_probabilities(x, "values").tolist() == [0.0, 0.0, 0.0, 0.5, 1.0, 1.0]
    with pytest.raises(VstmError, match="'logits' or 'values'"):
        to_probabilities(x, "probabilities")


# where a sigmoid is an LSTM gate, not a model output turned into a frame
GATE_FILES = {"nn/convlstm.py", "ops/fused.py", "models/ae_fclstm.py", "models/reference.py"}


def test_the_sigmoid_of_a_prediction_is_written_once():
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel in GATE_FILES | {"models/base.py"}:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                if name in ("sigmoid", "sigmoid_"):
                    found.append(f"{rel}:{node.lineno}")
    assert not found, f"use vstm.models.to_probabilities instead: {found}"
