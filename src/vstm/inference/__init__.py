"""Streaming inference over any video, one frame at a time, memory kept constant.

- :mod:`vstm.inference.next_frame`: input | prediction | flow, and closed-loop forecasts
  (``vstm predict``); the checkpoint-header helpers evaluation shares with it;
- :mod:`vstm.inference.segmentation`: input | colour-coded labels from a segmenter
  (``vstm segment predict``).

Each name lives in its module; import it from there.
"""

_MOVED = frozenset(
    {"PredictResult", "check_writable_dir", "inherited_settings", "model_outputs", "predict_video"}
)
"""Names once imported from ``vstm.inference`` (a module then), forwarded to
:mod:`vstm.inference.next_frame` while :mod:`vstm.experiments` still imports them from here;
tests/test_layout.py fails once nothing does, so that this is then deleted."""


def __getattr__(name: str):
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module("vstm.inference.next_frame"), name)
    raise AttributeError(f"module 'vstm.inference' has no attribute {name!r}")
