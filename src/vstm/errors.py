"""One exception type for every user-facing failure.

A :class:`VstmError` carries a one-line message that names the problem and the fix; the
command line prints it without a traceback (unless ``--debug``) and exits with status 2.
"""

from __future__ import annotations


class VstmError(Exception):
    """A user-facing error: bad input, a missing file, a checkpoint of another model."""


class ShapeError(VstmError, ValueError):
    """A tensor handed to a public entry point has the wrong shape."""


def check_shape(name: str, t, expected: str) -> None:
    """Check ``t`` against a shape pattern such as ``"B,C,H,W"`` or ``"B,2,H,W"``.

    Letters match any size (the same letter must match the same size across the pattern);
    digits must match exactly.

    >>> import torch
    >>> check_shape("flow", torch.zeros(1, 2, 4, 4), "B,2,H,W")
    >>> check_shape("flow", torch.zeros(1, 3, 4, 4), "B,2,H,W")
    Traceback (most recent call last):
    ...
    vstm.errors.ShapeError: flow: expected shape (B,2,H,W), got (1, 3, 4, 4)
    """
    dims = [d.strip() for d in expected.split(",")]
    got = tuple(t.shape)
    ok = len(got) == len(dims)
    if ok:
        seen: dict[str, int] = {}
        for d, n in zip(dims, got, strict=True):
            if d.isdigit():
                ok = ok and int(d) == n
            elif d in seen:
                ok = ok and seen[d] == n
            else:
                seen[d] = n
    if not ok:
        raise ShapeError(f"{name}: expected shape ({','.join(dims)}), got {got}")


def check_same_conv(name: str, x, weight) -> None:
    """Check the arguments of a same-padded convolution: x (N, Ci, H, W) and weight
    (Co, Ci, k, k) with the same Ci and k odd.

    >>> import torch
    >>> check_same_conv("conv", torch.zeros(1, 3, 4, 4), torch.zeros(2, 3, 4, 4))
    Traceback (most recent call last):
    ...
    vstm.errors.ShapeError: conv: kernel must be square and odd, got (2, 3, 4, 4)
    """
    if x.dim() != 4 or weight.dim() != 4 or x.shape[1] != weight.shape[1]:
        raise ShapeError(
            f"{name}: expected x (N, Ci, H, W) and weight (Co, Ci, k, k) with the same Ci, "
            f"got x {tuple(x.shape)} and weight {tuple(weight.shape)}"
        )
    k = weight.shape[-1]
    if weight.shape[-2] != k or k % 2 != 1:
        raise ShapeError(f"{name}: kernel must be square and odd, got {tuple(weight.shape)}")
