"""Weakly-supervised video segmentation along the learned flow (paper 5.2, SegNet-flow).

- the models live with the others and are re-exported here: :mod:`vstm.models.segnet`, the
  per-frame segmenter (SegNet style, pooling indices reused for unpooling);
  :mod:`vstm.models.segnet_flow`, SegNet-flow, registered as the ``segnet-flow`` video
  predictor; and the paper's boxes in :mod:`vstm.nn.propagation`: the sampler S (labels
  warped along AE-ConvLSTM-flow's flow) and the merge block M of Figure 7;
- the data, labelled Moving MNIST and the CamVid layout, is :mod:`vstm.data.labelled`
  (``vstm.data.build_dataset(..., labels=True)``); the loss is
  :class:`vstm.train.task.SegmentationTask`, trained by the one
  :class:`vstm.train.loop.Trainer` (``TrainConfig(task="segmentation")``);
- :mod:`~vstm.segment.evaluate`, :mod:`~vstm.segment.predict`: Table 2, label videos (the
  command line, ``vstm segment``, is :mod:`vstm.cli.segment`).

>>> import torch
>>> from vstm.segment import propagate_labels
>>> lab = torch.zeros(1, 1, 4, 4); lab[0, 0, 0, 0] = 1.0
>>> flow = torch.full((1, 2, 2, 2), -0.5)                  # content moves 1 px right and down
>>> propagate_labels(lab, flow)[0, 0].nonzero().tolist()
[[1, 1]]
"""

from vstm.metrics import VOID, confusion_matrix, flip_counts, scores_from_confusion
from vstm.models.segnet import SegNet, SegNetConfig
from vstm.models.segnet_flow import SegNetFlow, SegNetFlowConfig, SegNetFlowState, SegPrediction
from vstm.nn.propagation import MergeBlock, propagate_labels, upsample_flow

__all__ = [
    "VOID",
    "MergeBlock",
    "SegNet",
    "SegNetConfig",
    "SegNetFlow",
    "SegNetFlowConfig",
    "SegNetFlowState",
    "SegPrediction",
    "confusion_matrix",
    "flip_counts",
    "propagate_labels",
    "scores_from_confusion",
    "upsample_flow",
]
