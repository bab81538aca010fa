"""Moved to :mod:`vstm.eval.next_frame`; import from there.

This module only forwards the old import path while :mod:`vstm.experiments` still uses it;
tests/test_layout.py fails once nothing does, so that it is then deleted. It exports no
public API of its own (no ``__all__``): ``vstm.eval.next_frame`` is the one home of its names.
"""

from vstm.eval import next_frame as _home


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(f"module 'vstm.evaluate' has no attribute {name!r}")
    return getattr(_home, name)
