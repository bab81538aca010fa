"""The paper's model and its baselines, behind one registry."""

from vstm.models.ae_conv import AEConv, AEConvConfig
from vstm.models.ae_convlstm import AEConvLSTM, AEConvLSTMConfig
from vstm.models.ae_convlstm_flow import AEConvLSTMFlow, AEConvLSTMFlowConfig
from vstm.models.ae_convlstm_pixelflow import AEConvLSTMPixelFlow, AEConvLSTMPixelFlowConfig
from vstm.models.ae_fclstm import AEFCLSTM, AEFCLSTMConfig
from vstm.models.base import (
    Outputs,
    Prediction,
    Rollout,
    VideoPredictor,
    check_horizon,
    to_probabilities,
)
from vstm.models.registry import MODELS, build_model, config_from_dict, model_names, register
from vstm.models.segnet import SegNet, SegNetConfig
from vstm.models.segnet_flow import SegNetFlow, SegNetFlowConfig

register(
    "ae-convlstm-flow",
    AEConvLSTMFlowConfig,
    "the paper's spatio-temporal autoencoder: E, ConvLSTM memory, flow Θ, warp, D",
)(AEConvLSTMFlow)
register(
    "ae-convlstm-pixelflow",
    AEConvLSTMPixelFlowConfig,
    "beyond the paper: the paper's memory and Θ warp the frame itself at full resolution; "
    "D adds a residual (starts as copy-last)",
)(AEConvLSTMPixelFlow)
register(
    "ae-convlstm",
    AEConvLSTMConfig,
    "baseline (Figure 4): E, ConvLSTM temporal encoder and decoder, D; no flow",
)(AEConvLSTM)
register(
    "ae-conv",
    AEConvConfig,
    "baseline (Figure 4): convolutional autoencoder over the last 10 frames as channels",
)(AEConv)
register(
    "ae-fclstm",
    AEFCLSTMConfig,
    "baseline (Figure 4): E, fully-connected LSTMs over flattened features, D; one frame size",
)(AEFCLSTM)

register(
    "segnet-flow",
    SegNetFlowConfig,
    "paper 5.2: AE-ConvLSTM-flow + per-frame SegNet + label propagation (vstm segment)",
    tasks=("next-frame", "segmentation"),
)(SegNetFlow)
register(
    "segnet",
    SegNetConfig,
    "paper 5.2: per-frame SegNet, the segmentation baseline (vstm segment)",
    tasks=("segmentation",),
)(SegNet)

__all__ = [
    "AEFCLSTM",
    "MODELS",
    "AEConv",
    "AEConvConfig",
    "AEConvLSTM",
    "AEConvLSTMConfig",
    "AEConvLSTMFlow",
    "AEConvLSTMFlowConfig",
    "AEConvLSTMPixelFlow",
    "AEConvLSTMPixelFlowConfig",
    "AEFCLSTMConfig",
    "Outputs",
    "Prediction",
    "Rollout",
    "VideoPredictor",
    "build_model",
    "check_horizon",
    "config_from_dict",
    "model_names",
    "register",
    "to_probabilities",
]
