"""Streaming inference over any video, one frame at a time, memory kept constant.

- :mod:`vstm.inference.next_frame`: input | prediction | flow, and closed-loop forecasts
  (``vstm predict``); the checkpoint-header helpers evaluation shares with it;
- :mod:`vstm.inference.segmentation`: input | colour-coded labels from a segmenter
  (``vstm segment predict``).

Each name lives in its module; import it from there.
"""
