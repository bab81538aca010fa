"""Building blocks: no training logic here."""

from vstm.nn.autoencoder import SpatialDecoder, SpatialEncoder, xavier_init
from vstm.nn.convlstm import ConvLSTM, ConvLSTMCell, LSTMState
from vstm.nn.flow_head import FlowRegressor
from vstm.nn.propagation import MergeBlock, propagate_labels, upsample_flow
from vstm.nn.smoothness import flow_gradient, huber, huber_smoothness, inject_smoothness
from vstm.nn.warp import flow_to_grid, warp

__all__ = [
    "ConvLSTM",
    "ConvLSTMCell",
    "FlowRegressor",
    "LSTMState",
    "MergeBlock",
    "SpatialDecoder",
    "SpatialEncoder",
    "flow_gradient",
    "flow_to_grid",
    "huber",
    "huber_smoothness",
    "inject_smoothness",
    "propagate_labels",
    "upsample_flow",
    "warp",
    "xavier_init",
]
