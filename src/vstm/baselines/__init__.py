"""Non-learned next-frame predictors for the paper's Table 1 (the learned baselines of Figure 4
are models in :mod:`vstm.models`: ``ae-conv``, ``ae-convlstm``, ``ae-fclstm``)."""

from vstm.baselines.classical import FLOW_METHODS, estimate_motion, predict_constant_velocity

__all__ = ["FLOW_METHODS", "estimate_motion", "predict_constant_velocity"]
