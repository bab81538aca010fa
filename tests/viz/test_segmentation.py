"""Segmentation pictures draw the tensors they are given: Figure 8, video panels, the legend."""

import numpy as np
import torch
from PIL import Image

from vstm.data.labelled import MNIST_DIGITS
from vstm.viz.segmentation import figure8, label_panels, legend, write_figure8


def _case(n=2, h=16, w=16):
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(n, 1, h, w, generator=g)
    truth = torch.randint(0, MNIST_DIGITS.num_classes, (n, h, w), generator=g)
    return frames, truth, {"SegNet": truth.clone(), "SegNet-flow": truth.flip(-1)}


def test_figure8_is_an_rgb_image_with_a_column_per_segmenter():
    frames, truth, preds = _case()
    one = figure8(frames, truth, {"SegNet": preds["SegNet"]}, MNIST_DIGITS)
    two = figure8(frames, truth, preds, MNIST_DIGITS)
    assert one.dtype == np.uint8 and one.ndim == 3 and one.shape[2] == 3
    assert two.shape[1] > one.shape[1]  # one more column


def test_write_figure8_enlarges_small_frames_twice(tmp_path):
    frames, truth, preds = _case()
    write_figure8(tmp_path / "fig8.png", frames, truth, preds, MNIST_DIGITS)
    written = np.asarray(Image.open(tmp_path / "fig8.png").convert("RGB"))
    assert written.shape == figure8(frames, truth, preds, MNIST_DIGITS, zoom=2).shape


def test_label_panels_one_frame_per_time_step_and_a_legend_row_per_class():
    frames, _, preds = _case(n=3)
    panels = label_panels(frames, preds, MNIST_DIGITS)
    assert len(panels) == 3 and all(p.shape == panels[0].shape for p in panels)
    swatches = legend(MNIST_DIGITS, swatch=12)
    assert swatches.shape[0] == 15 * (MNIST_DIGITS.num_classes + 1) + 3  # classes and void
