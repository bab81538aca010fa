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
from vstm.models.registry import (
    MODELS,
    PaperRow,
    build_model,
    config_from_dict,
    facts_of,
    model_facts,
    model_names,
    register,
)
from vstm.models.segnet import SegNet, SegNetConfig
from vstm.models.segnet_flow import SegNetFlow, SegNetFlowConfig

_FLOW_TINY = {"hidden_channels": 8, "lstm_kernel": 3, "flow_kernel": 5}

register(
    "ae-convlstm-flow",
    AEConvLSTMFlowConfig,
    "the paper's spatio-temporal autoencoder: E, ConvLSTM memory, flow Θ, warp, D",
    tiny=_FLOW_TINY,
    state_names=("h", "c"),
    paper=PaperRow(
        "AE-ConvLSTM-flow",
        1_035_067,
        0.0439,
        count_note="+4: exactly the 4 weights of Θ's zero-initialised 1x1 conv 2->2, which the "
        "paper's count appears to leave out; the layer has 6 parameters with its 2 biases",
    ),
)(AEConvLSTMFlow)
register(
    "ae-convlstm-pixelflow",
    AEConvLSTMPixelFlowConfig,
    "beyond the paper: the paper's memory and Θ warp the frame itself at full resolution; "
    "D adds a residual (starts as copy-last)",
    tiny=_FLOW_TINY,
    state_names=("h", "c"),
    starts_from={"ae-convlstm-flow": ("decoder.",)},  # E, memory and Θ carry over; D stays 0
)(AEConvLSTMPixelFlow)
register(
    "ae-convlstm",
    AEConvLSTMConfig,
    "baseline (Figure 4): E, ConvLSTM temporal encoder and decoder, D; no flow",
    tiny={"hidden_channels": 8, "lstm_kernel": 3},
    state_names=("h1", "c1", "h2", "c2"),
    paper=PaperRow("AE-ConvLSTM", 1_256_305, 0.0641),
)(AEConvLSTM)
register(
    "ae-conv",
    AEConvConfig,
    "baseline (Figure 4): convolutional autoencoder over the last 10 frames as channels",
    tiny={"mid_channels": 8, "kernel": 3},
    state_names=("window",),
    paper=PaperRow("AE-Conv", 109_073, 0.0948),
    context_field="window",
)(AEConv)
register(
    "ae-fclstm",
    AEFCLSTMConfig,
    "baseline (Figure 4): E, fully-connected LSTMs over flattened features, D; one frame size",
    tiny={"hidden_units": 16, "enc_kernel": 3, "dec_kernel": 3},
    state_names=("h1", "c1", "h2", "c2"),
    paper=PaperRow("AE-fcLSTM", 33_623_649, 0.0650),
    frame_size=("frame_height", "frame_width"),
)(AEFCLSTM)

register(
    "segnet-flow",
    SegNetFlowConfig,
    "paper 5.2: AE-ConvLSTM-flow + per-frame SegNet + label propagation (vstm segment)",
    tasks=("next-frame", "segmentation"),
    tiny={"seg_width": 4, "seg_depth": 2, "hidden_channels": 8, "flow_kernel": 5},
    label="SegNet-flow",
    segmenter="propagated",
)(SegNetFlow)
register(
    "segnet",
    SegNetConfig,
    "paper 5.2: per-frame SegNet, the segmentation baseline (vstm segment)",
    tasks=("segmentation",),
    tiny={"width": 4, "depth": 2},
    label="SegNet",
    segmenter="per-frame",
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
    "PaperRow",
    "Prediction",
    "Rollout",
    "VideoPredictor",
    "build_model",
    "check_horizon",
    "config_from_dict",
    "facts_of",
    "model_facts",
    "model_names",
    "register",
    "to_probabilities",
]
