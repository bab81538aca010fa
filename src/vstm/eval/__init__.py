"""Evaluation: scores of trained models on fixed test sets, and the rollout protocols.

- :mod:`vstm.eval.next_frame`: next-frame metrics (``vstm eval``, ``vstm reproduce``, Table 1)
  and K -> N closed-loop forecasts in OpenSTL's convention (``vstm eval --protocol 10to10``);
- :mod:`vstm.eval.segmentation`: segmenters scored in Table 2's layout, plus mIoU, temporal
  consistency and the flow's end-point error (``vstm segment eval``).

Each name lives in its module; import it from there.
"""
