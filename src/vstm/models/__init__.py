"""The paper's model and its baselines, behind one registry."""

from vstm.models.ae_convlstm_flow import AEConvLSTMFlow, AEConvLSTMFlowConfig
from vstm.models.base import Prediction, VideoPredictor
from vstm.models.registry import MODELS, build_model, config_from_dict, model_names, register

register(
    "ae-convlstm-flow",
    AEConvLSTMFlowConfig,
    "the paper's spatio-temporal autoencoder: E, ConvLSTM memory, flow Θ, warp, D",
)(AEConvLSTMFlow)

__all__ = [
    "MODELS",
    "AEConvLSTMFlow",
    "AEConvLSTMFlowConfig",
    "Prediction",
    "VideoPredictor",
    "build_model",
    "config_from_dict",
    "model_names",
    "register",
]
