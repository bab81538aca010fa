"""Pictures of frames and flow: the Middlebury colour wheel, ``.flo`` files, grids, videos, plots.

Everything here takes the conventions of DESIGN section 2: flow (..., 2, H, W) in pixels,
channel 0 = x (right), channel 1 = y (down). The model's flow points back to the source
pixel; :func:`vstm.metrics.flow_to_motion` turns it into image-resolution motion before it is
coloured.
"""

from vstm.viz.flow import color_wheel, color_wheel_legend, flow_to_color, read_flo, write_flo
from vstm.viz.frames import image_grid, save_png, to_uint8_image
from vstm.viz.plots import plot_curves
from vstm.viz.video import VideoWriter, write_video

__all__ = [
    "VideoWriter",
    "color_wheel",
    "color_wheel_legend",
    "flow_to_color",
    "image_grid",
    "plot_curves",
    "read_flo",
    "save_png",
    "to_uint8_image",
    "write_flo",
    "write_video",
]
