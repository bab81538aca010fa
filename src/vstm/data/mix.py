"""Training clips drawn from two sources in a fixed proportion (``vstm train --mix-data``)."""

from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset

__all__ = ["MixedClips"]

_ENDLESS = 1 << 40
"""The length a mixture reports: its indices are fresh draws, as an endless generator's."""


class MixedClips(Dataset):
    """Item ``i`` comes from ``extra`` with probability ``fraction``, else from ``base``.

    Both sources must give items with the same ``"frames"`` shape; only ``"frames"`` is kept
    (real clips have no motion). The choice and the ``base`` clip are pure functions of
    ``(seed, i)``: ``base`` clips are drawn uniformly with replacement, ``extra`` (an endless
    generator such as :class:`vstm.data.PhotoMotion`) gives its sequence ``i``, so every index
    is a fresh synthetic sequence. The trainer indexes it as an endless generator.

    >>> import torch
    >>> base = [{"frames": torch.zeros(2, 1, 4, 4)}] * 3
    >>> extra = [{"frames": torch.ones(2, 1, 4, 4)}] * 1000
    >>> mix = MixedClips(base, extra, 0.25, seed=0)
    >>> share = sum(float(mix[i]["frames"].mean()) for i in range(1000)) / 1000
    >>> abs(share - 0.25) < 0.05
    True
    """

    def __init__(self, base: Dataset, extra: Dataset, fraction: float, seed: int = 0) -> None:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be in [0, 1], got {fraction}")
        self.base, self.extra, self.fraction, self.seed = base, extra, float(fraction), int(seed)
        self.n_base = len(base)  # type: ignore[arg-type]
        self.n_extra = len(extra)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return _ENDLESS

    def source(self, i: int) -> tuple[str, int]:
        """("base" or "extra", the index in that source) of item ``i``."""
        rng = np.random.default_rng([self.seed, int(i), 0x6D6978])
        if rng.random() < self.fraction:
            return "extra", int(i) % self.n_extra
        return "base", int(rng.integers(self.n_base))

    def __getitem__(self, i: int) -> dict:
        which, j = self.source(i)
        item = (self.extra if which == "extra" else self.base)[j]
        return {"frames": item["frames"]}
