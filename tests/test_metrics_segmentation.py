"""Segmentation metrics on hand-built label maps (expected values worked out by hand)."""

import math

import torch

from vstm.metrics import VOID, confusion_matrix, flip_counts, scores_from_confusion


def test_table2_scores_on_a_hand_built_map():
    # truth: 6 pixels of class 0, 3 of class 1, 1 of class 2, 2 void; pred as below
    truth = torch.tensor([[0, 0, 0, 0, 0, 0], [1, 1, 1, 2, VOID, VOID]])
    pred = torch.tensor([[0, 0, 0, 0, 1, 1], [1, 1, 0, 0, 2, 2]])
    cm = confusion_matrix(pred, truth, 3)
    assert cm.tolist() == [[4, 2, 0], [1, 2, 0], [1, 0, 0]]
    s = scores_from_confusion(cm, ["a", "b", "c"])
    assert s["per_class"] == {"a": 4 / 6 * 100, "b": 2 / 3 * 100, "c": 0.0}
    assert math.isclose(s["class_avg"], (4 / 6 + 2 / 3 + 0) / 3 * 100)
    assert math.isclose(s["global"], 6 / 10 * 100)  # void pixels are not counted
    # IoU: a 4/(6+6-4), b 2/(3+4-2), c 0/(1+0-0)
    assert math.isclose(s["miou"], (4 / 8 + 2 / 5 + 0) / 3 * 100)
    assert s["pixels"] == 10


def test_absent_classes_are_left_out_of_the_averages():
    s = scores_from_confusion(torch.tensor([[2, 0], [0, 0]]), ["a", "b"])
    assert math.isnan(s["per_class"]["b"]) and s["class_avg"] == 100.0 and s["miou"] == 100.0


def test_flip_rate_counts_only_pixels_whose_truth_is_stable():
    truth = torch.tensor([[[[0, 0, 1]], [[0, 1, 1]], [[0, 1, VOID]]]])  # (1, 3, 1, 3)
    pred = torch.tensor([[[[0, 1, 1]], [[1, 1, 0]], [[1, 1, 1]]]])
    flips, stable = flip_counts(pred, truth)
    # t=1: stable pixels 0 and 2 (pixel 1 changes 0->1); pred flips at 0 (0->1) and 2 (1->0)
    # t=2: stable pixels 0 and 1 (pixel 2 is void at t=2); no prediction flips there
    assert flips.tolist() == [2, 0] and stable.tolist() == [2, 2]
