"""Label propagation along the learned flow (paper 5.2, Figure 7): the sampler S and merge M.

Flow convention (DESIGN section 2). AE-ConvLSTM-flow's flow at step t, ``flow_t``
(B, 2, h, w) in pixels of its feature map, warps the features of frame t into a prediction
of frame t+1: ``x̃_{t+1}[p] = x_t[p + flow_t[p]]``. So ``flow_t`` maps each pixel of frame
t+1 back to its source in frame t. Hence, to carry the label prediction of frame t-1 into
frame t, S uses the flow produced at step t-1::

    L^w_{t-1}[p] = L̃_{t-1}[p + s * up(flow_{t-1})[p]]          (p a pixel of frame t)

where ``up`` resizes the flow from the feature map (h, w) to the label map (H, W) and ``s``
scales it to label pixels (x by W/w, y by H/h; 2 for the paper's encoder). The flow of step
t-1 only depends on frames <= t-1: it is the model's *prediction* of the motion into t.

M, the merge block, sees SegNet's prediction of frame t and the warped prediction from t-1
and returns the final prediction L̃_t; it is recurrent through L̃_t, which S carries on.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from vstm.errors import ShapeError, check_shape
from vstm.nn.warp import device_constant, warp

__all__ = ["MergeBlock", "propagate_labels", "upsample_flow"]


def upsample_flow(
    flow: torch.Tensor,
    size: tuple[int, int],
    mode: Literal["bilinear", "nearest"] = "bilinear",
) -> torch.Tensor:
    """Resize a flow (B, 2, h, w) to (B, 2, H, W) and rescale it to pixels of the new size.

    Channel 0 (x) is multiplied by W / w, channel 1 (y) by H / h. ``"bilinear"`` uses
    ``align_corners=False``: feature pixel i sits at the centre of the block of label pixels
    it pooled (i * W/w + (W/w - 1) / 2), as the encoder's 2x2 max-pool has it.

    >>> import torch
    >>> flow = torch.tensor([1.0, -0.5]).view(1, 2, 1, 1).expand(1, 2, 2, 2)
    >>> upsample_flow(flow, (4, 4))[0, :, 0, 0].tolist()
    [2.0, -1.0]
    """
    check_shape("upsample_flow: flow", flow, "B,2,h,w")
    h, w = flow.shape[-2:]
    H, W = size
    if (h, w) == (H, W):
        return flow
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    up = F.interpolate(flow, size=(H, W), mode=mode, **kwargs)  # (B, 2, H, W)
    return up * device_constant((W / w, H / h), up.device, up.dtype).view(1, 2, 1, 1)


def propagate_labels(
    labels: torch.Tensor,
    flow: torch.Tensor,
    mode: Literal["bilinear", "nearest"] = "bilinear",
) -> torch.Tensor:
    """The sampler S: carry a label map of frame t-1 into frame t along ``flow_{t-1}``.

    Args:
        labels: (B, K, H, W) per-class scores of frame t-1 (probabilities, so that the
            bilinear sampling mixes them into probabilities).
        flow: (B, 2, h, w), the flow AE-ConvLSTM-flow produced at step t-1 (it warps frame
            t-1 into frame t), in pixels of its own (h, w) map; resized and rescaled to
            (H, W) by :func:`upsample_flow` with ``mode``.

    Returns:
        (B, K, H, W): ``out[p] = labels[p + flow'[p]]`` with ``flow'`` the label-resolution
        flow; bilinear, zeros where the source lies outside the map (no information there).

    >>> import torch
    >>> lab = torch.zeros(1, 1, 4, 4); lab[0, 0, 1, 1] = 1.0
    >>> flow = torch.zeros(1, 2, 2, 2); flow[:, 0] = -0.5     # -1 label pixel in x: moves right
    >>> propagate_labels(lab, flow)[0, 0].nonzero().tolist()
    [[1, 2]]
    """
    check_shape("propagate_labels: labels", labels, "B,K,H,W")
    check_shape("propagate_labels: flow", flow, "B,2,h,w")
    if flow.shape[0] != labels.shape[0]:
        raise ShapeError(
            f"propagate_labels: flow batch {flow.shape[0]} does not match labels batch "
            f"{labels.shape[0]}"
        )
    return warp(labels, upsample_flow(flow.to(labels.dtype), labels.shape[-2:], mode))


class MergeBlock(nn.Module):
    """M: the final prediction of frame t from SegNet's and the propagated one.

    ``L̃_t = Lb_t + f(concat(softmax(Lb_t), L^w_{t-1}))``, with ``f`` = conv k x k (2K -> m),
    ReLU, conv k x k (m -> m), ReLU, conv 1x1 (m -> K). The last layer starts at zero, so an
    untrained merge passes SegNet's logits through unchanged and learns how far to trust the
    propagated labels. Both inputs enter as probabilities (the warped map sums to 1 inside the
    frame, less where the source was outside, 0 at t = 0).

    >>> import torch
    >>> m = MergeBlock(num_classes=3, channels=8)
    >>> base, warped = torch.randn(2, 3, 5, 5), torch.rand(2, 3, 5, 5)
    >>> out = m(base, warped)
    >>> tuple(out.shape), bool(torch.equal(out, base))    # zero-initialised residual
    ((2, 3, 5, 5), True)
    """

    def __init__(self, num_classes: int, channels: int = 8, kernel: int = 3) -> None:
        super().__init__()
        self.num_classes = num_classes
        k = kernel
        self.conv1 = nn.Conv2d(2 * num_classes, channels, k, padding=k // 2)
        self.conv2 = nn.Conv2d(channels, channels, k, padding=k // 2)
        self.out = nn.Conv2d(channels, num_classes, 1)
        for c in (self.conv1, self.conv2):
            nn.init.kaiming_normal_(c.weight, nonlinearity="relu")
            nn.init.zeros_(c.bias)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, base: torch.Tensor, warped: torch.Tensor) -> torch.Tensor:
        """One step.

        Args:
            base: (B, K, H, W) SegNet's logits Lb_t for frame t.
            warped: (B, K, H, W) the propagated probabilities L^w_{t-1} (zeros at t = 0).

        Returns:
            (B, K, H, W) logits L̃_t.
        """
        check_shape("MergeBlock: base", base, "B,K,H,W")
        if warped.shape != base.shape or base.shape[1] != self.num_classes:
            raise ShapeError(
                f"MergeBlock: base and warped must both be (B,{self.num_classes},H,W), got "
                f"{tuple(base.shape)} and {tuple(warped.shape)}"
            )
        x = torch.cat((base.softmax(dim=1), warped.to(base.dtype)), dim=1)  # (B, 2K, H, W)
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        return base + self.out(x)
