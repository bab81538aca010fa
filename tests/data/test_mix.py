"""Mixing a generator into real clips (``vstm train --mix-data``)."""

import torch

from vstm.data import MixedClips


def _items(value: float, n: int):
    return [{"frames": torch.full((2, 1, 2, 2), value), "motion": torch.zeros(1)}] * n


def test_fraction_and_determinism():
    mix = MixedClips(_items(0.0, 7), _items(1.0, 10**6), 0.3, seed=5)
    picks = [mix.source(i)[0] for i in range(4000)]
    share = picks.count("extra") / len(picks)
    assert abs(share - 0.3) < 0.03
    again = MixedClips(_items(0.0, 7), _items(1.0, 10**6), 0.3, seed=5)
    assert [again.source(i) for i in range(50)] == [mix.source(i) for i in range(50)]
    assert set(mix[0]) == {"frames"}  # only what both sources share


def test_extremes_and_fresh_synthetic_indices():
    only_base = MixedClips(_items(0.0, 3), _items(1.0, 100), 0.0)
    assert all(only_base.source(i)[0] == "base" for i in range(200))
    only_extra = MixedClips(_items(0.0, 3), _items(1.0, 100), 1.0)
    assert [only_extra.source(i) for i in range(3)] == [("extra", 0), ("extra", 1), ("extra", 2)]
