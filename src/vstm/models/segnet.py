"""A per-frame segmenter in the SegNet style (Badrinarayanan et al. 2015), size configurable.

SegNet is an encoder-decoder: every encoder level is ``convs`` x (conv 3x3, batch norm, ReLU)
followed by a 2x2 max-pool that **remembers the indices** of its maxima; the matching decoder
level max-unpools with those indices (values go back to where the maxima came from, zeros
elsewhere) and densifies with the same convolutions. A final 1x1 convolution gives per-pixel
class logits at the input resolution. Unpooling takes the encoder's pre-pool size, so any
frame size works (odd sizes included).

The paper's SegNet (5.2) is VGG-16-sized; the default here (4 levels of 8, 16, 32, 64
channels; about 0.15 M parameters) trains on a CPU. ``width`` and ``depth`` scale it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from vstm.errors import ShapeError, VstmError, check_shape

__all__ = ["SegNet", "SegNetConfig", "level_widths"]


@dataclass(frozen=True)
class SegNetConfig:
    """Configuration of :class:`SegNet`.

    Attributes:
        in_channels: C, channels per frame.
        num_classes: K, classes predicted (void is not a class).
        width: channels of the first level; each deeper level doubles them.
        depth: encoder levels, each ending in a 2x2 max-pool (receptive field grows ~2^depth).
        convs: conv-BN-ReLU layers per level, in the encoder and in the decoder.
        kernel: convolution kernel size (odd).
    """

    in_channels: int = 1
    num_classes: int = 11
    width: int = 8
    depth: int = 4
    convs: int = 2
    kernel: int = 3


def level_widths(width: int, depth: int) -> list[int]:
    """Channels per level, doubling as the resolution halves (deep levels cost little).

    >>> level_widths(8, 4)
    [8, 16, 32, 64]
    """
    return [width * 2**i for i in range(depth)]


def _conv_bn_relu(cin: int, cout: int, k: int) -> list[nn.Module]:
    conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=False)
    nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
    return [conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class SegNet(nn.Module):
    """Encoder-decoder with pooling indices reused for unpooling: frames -> class logits.

    ``forward`` takes (N, C, H, W) and returns logits (N, K, H, W); ``segment`` takes a clip
    batch (B, T, C, H, W) and segments every frame independently -> (B, T, K, H, W).

    >>> import torch
    >>> net = SegNet(SegNetConfig(num_classes=5, width=4, depth=2))
    >>> tuple(net(torch.rand(2, 1, 30, 22)).shape)
    (2, 5, 30, 22)
    """

    name: ClassVar[str] = "segnet"

    def __init__(self, config: SegNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or SegNetConfig()
        if config.depth < 1 or config.width < 1 or config.convs < 1 or config.kernel % 2 == 0:
            raise VstmError(
                f"segnet config: depth, width and convs must be >= 1 and kernel odd, got {config}"
            )
        if config.num_classes < 2:
            raise VstmError(f"segnet config: num_classes must be >= 2, got {config.num_classes}")
        widths = level_widths(config.width, config.depth)
        k, n = config.kernel, config.convs
        self.down = nn.ModuleList()
        cin = config.in_channels
        for w in widths:
            layers = _conv_bn_relu(cin, w, k)
            for _ in range(n - 1):
                layers += _conv_bn_relu(w, w, k)
            self.down.append(nn.Sequential(*layers))
            cin = w
        # decoder level i (deepest first) maps widths[i] -> widths[i-1] (the first: -> widths[0])
        self.up = nn.ModuleList()
        for i in reversed(range(config.depth)):
            w, wout = widths[i], widths[max(i - 1, 0)]
            layers = []
            for _ in range(n - 1):
                layers += _conv_bn_relu(w, w, k)
            layers += _conv_bn_relu(w, wout, k)
            self.up.append(nn.Sequential(*layers))
        self.classify = nn.Conv2d(widths[0], config.num_classes, 1)
        nn.init.xavier_uniform_(self.classify.weight)
        nn.init.zeros_(self.classify.bias)

    @property
    def in_channels(self) -> int:
        return self.config.in_channels

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

    def _check(self, x: torch.Tensor, pattern: str) -> None:
        check_shape(f"{self.name}: frames", x, pattern)
        if x.shape[-3] != self.in_channels:
            raise ShapeError(
                f"{self.name}: expected {self.in_channels} channel(s) per frame, got "
                f"{x.shape[-3]} (shape {tuple(x.shape)}); build it with in_channels="
                f"{x.shape[-3]} or convert the frames"
            )
        if min(x.shape[-2:]) < 2**self.config.depth:
            raise ShapeError(
                f"{self.name}: frames of {x.shape[-2]}x{x.shape[-1]} are too small for "
                f"depth {self.config.depth}; use frames of at least {2**self.config.depth} "
                "pixels or a smaller depth"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of every pixel.

        Args:
            x: (N, C, H, W) frames.

        Returns:
            (N, K, H, W) logits.
        """
        self._check(x, "N,C,H,W")
        indices, sizes = [], []
        for level in self.down:
            x = level(x)
            sizes.append(x.shape[-2:])
            x, idx = F.max_pool2d(x, 2, return_indices=True)  # (N, c, H/2^l, W/2^l)
            indices.append(idx)
        for level, idx, size in zip(self.up, reversed(indices), reversed(sizes), strict=True):
            x = F.max_unpool2d(x, idx, 2, output_size=size)  # back to the pre-pool size
            x = level(x)
        return self.classify(x)

    def segment(self, frames: torch.Tensor) -> torch.Tensor:
        """Segment every frame of a clip batch independently.

        Args:
            frames: (B, T, C, H, W).

        Returns:
            (B, T, K, H, W) logits.
        """
        self._check(frames, "B,T,C,H,W")
        b, t = frames.shape[:2]
        return self(frames.flatten(0, 1)).unflatten(0, (b, t))  # (B*T, K, H, W) -> (B, T, ...)
