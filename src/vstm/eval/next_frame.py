"""Evaluation: next-frame metrics (``vstm eval``, ``vstm reproduce``) and K -> N closed-loop
forecasts in OpenSTL's convention (``vstm eval --protocol 10to10``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import torch

from vstm import metrics
from vstm.baselines.classical import opencv_missing, predict_constant_velocity
from vstm.data import build_dataset, canonical_data, is_generated, is_moving_mnist
from vstm.data.video import frame_cache_dir
from vstm.errors import VstmError
from vstm.inference.next_frame import inherited_settings
from vstm.io import same_path
from vstm.metrics import flow_to_motion
from vstm.models import VideoPredictor, to_probabilities
from vstm.models.base import check_horizon
from vstm.models.checkpoint import model_outputs
from vstm.system import autocast
from vstm.viz import plot_curves, save_png
from vstm.viz.figures import forecast_figure

__all__ = [
    "CLASSICAL_ROWS",
    "OPENSTL_SSIM",
    "PROTOCOLS",
    "TEST_SEED",
    "EvalResult",
    "classical_predictors",
    "clip_scores",
    "copy_last_predictor",
    "copy_last_rollout",
    "draw_forecasts",
    "evaluate_checkpoint",
    "evaluate_checkpoint_rollout",
    "evaluate_predictor",
    "evaluate_rollout",
    "model_predictor",
    "model_rollout_predictor",
    "moving_mnist_scores",
    "moving_mnist_test_set",
    "plot_rollout_curves",
    "video_settings",
]

log = logging.getLogger("vstm.eval")

TEST_SEED = 2016
"""Seed of the held-out Moving MNIST test set (test digit pool) of Table 1 and the checks."""

Predictor = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]
"""context frames (B, K, C, H, W) -> (probabilities of frame K (B, C, H, W) in [0, 1],
motion from frame K-1 to K at image resolution (B, 2, H, W) or None)."""

EvalResult = dict[str, float]


def model_predictor(model: VideoPredictor, outputs: str, precision: str = "fp32") -> Predictor:
    """Wrap a model: ``outputs`` is ``"logits"`` (trained with BCE) or ``"values"`` (MSE).

    ``precision="bf16"`` runs the model (only the model: the metrics stay fp32) under bf16
    autocast.
    """

    @torch.no_grad()
    def predict(context: torch.Tensor):
        with autocast(context.device, precision):
            out = model(context)
        prob = to_probabilities(out.pred[:, -1].float(), outputs)
        motion = None
        if out.flow is not None:
            scale = context.shape[-1] // out.flow.shape[-1]
            mode = getattr(model, "motion_upsampling", "nearest")
            motion = metrics.flow_to_motion(out.flow[:, -1].float(), scale=scale, mode=mode)
        return prob, motion

    return predict


def copy_last_predictor(context: torch.Tensor):
    """The copy-last-frame baseline: frame K is predicted as frame K-1, motion 0."""
    last = context[:, -1]
    b, _, h, w = last.shape
    return last, last.new_zeros(b, 2, h, w)


def evaluate_predictor(
    predictor: Predictor,
    batches: Iterable[dict],
    context: int,
    device: torch.device | str = "cpu",
) -> EvalResult:
    """Score a predictor's frame ``context`` given frames ``0..context-1`` of each sequence.

    Args:
        predictor: see :data:`Predictor`.
        batches: dicts with "frames" (B, T, C, H, W), T > context, and optionally "motion"
            (B, T-1, 2, H, W) and "mask" (B, T-1, 1, H, W) (Moving MNIST ground truth).
        context: K, number of frames fed before the scored prediction.

    Returns:
        Means over all sequences: ``bce`` (per pixel, the paper's Table 1 metric), ``mse``,
        ``psnr`` (dB; capped at 100 for identical frames), ``ssim``, and where ground-truth
        motion exists ``epe`` and ``angular_error`` (degrees) on digit pixels, plus
        ``sequences``.
    """
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}

    def add(name: str, per_sample: torch.Tensor, weight: torch.Tensor | None = None) -> None:
        per_sample = per_sample.double()
        w = torch.ones_like(per_sample) if weight is None else weight.double()
        ok = torch.isfinite(per_sample)
        sums[name] = sums.get(name, 0.0) + float((per_sample[ok] * w[ok]).sum())
        counts[name] = counts.get(name, 0.0) + float(w[ok].sum())

    n = 0
    for batch in batches:
        frames = batch["frames"].to(device)
        if frames.shape[1] <= context:
            raise ValueError(f"sequences of {frames.shape[1]} frames cannot score frame {context}")
        target = frames[:, context].float()
        prob, motion = predictor(frames[:, :context])
        prob = prob.float()
        add("bce", metrics.bce(prob, target, logits=False, reduction="none"))
        add("mse", metrics.mse(prob, target, reduction="none"))
        add("psnr", metrics.psnr(prob, target, max_db=100.0, reduction="none"))
        add("ssim", metrics.ssim(prob, target, reduction="none"))
        if motion is not None and "motion" in batch:
            gt = batch["motion"][:, context - 1].to(device).float()
            mask = batch["mask"][:, context - 1].to(device)
            pixels = mask.flatten(1).sum(1)
            add("epe", metrics.epe(motion, gt, mask, reduction="none"), pixels)
            add("angular_error", metrics.angular_error(motion, gt, mask, reduction="none"), pixels)
        n += frames.shape[0]
    # a metric no sample could score (e.g. EPE where no pixel has defined motion) is left out:
    # never a number from an empty set
    result = {k: sums[k] / counts[k] for k in sums if counts[k]}
    result["sequences"] = n
    return result


def moving_mnist_test_set(
    sequences: int, context: int = 10, size: int = 64, binarize: bool = True, seed: int = TEST_SEED
):
    """Table 1's held-out test set: test digit pool, ``seed``, ``context + 1`` frames per
    sequence (items: frames (T, 1, size, size), motion, mask); its first ``sequences``."""

    return build_dataset(
        "moving-mnist",
        split="test",
        num_sequences=sequences,
        seq_len=context + 1,
        size=size,
        binarize=binarize,
        seed=seed,
    )


def moving_mnist_scores(
    model: VideoPredictor,
    outputs: str,
    *,
    sequences: int,
    context: int = 10,
    size: int = 64,
    seed: int = TEST_SEED,
    binarize: bool = True,
    batch_size: int = 32,
) -> EvalResult:
    """Score ``model`` on the first ``sequences`` held-out Moving MNIST test sequences.

    The sequences are Table 1's test set (test digit pool, ``seed``; frame ``context + 1``
    predicted from frames 1..``context``), so a small ``sequences`` is a fixed subset of it.
    Returns :func:`evaluate_predictor`'s metrics.
    """
    from torch.utils.data import DataLoader

    dataset = moving_mnist_test_set(sequences, context, size, binarize=binarize, seed=seed)
    device = next(model.parameters()).device
    with torch.no_grad():
        return evaluate_predictor(
            model_predictor(model.eval(), outputs),
            DataLoader(dataset, batch_size=batch_size),
            context,
            device,
        )


def clip_scores(
    model: VideoPredictor | None, outputs: str, frames: torch.Tensor, context: int
) -> EvalResult:
    """Score ``model`` (or copy-last, with ``model=None``) on fixed clips: frames (N, T, C, H,
    W) uint8 or float in [0, 1], frame ``context`` predicted from the frames before it (the
    small check set of a shipped video model, :mod:`vstm.models.pretrained`)."""
    from torch.utils.data import DataLoader

    if frames.dtype == torch.uint8:
        frames = frames.float() / 255.0
    items = [{"frames": f} for f in frames]
    predictor = copy_last_predictor if model is None else model_predictor(model.eval(), outputs)
    device = "cpu" if model is None else next(model.parameters()).device
    with torch.no_grad():
        return evaluate_predictor(predictor, DataLoader(items, batch_size=8), context, device)


def evaluate_checkpoint(
    model: VideoPredictor,
    header: dict,
    checkpoint: str,
    *,
    data: str | None = None,
    context: int = 10,
    num: int = 1000,
    batch_size: int = 32,
    seed: int = 0,
    binarize: bool | None = None,
    mnist_dir: str | None = None,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    short_hint: str | None = None,
    classical: bool = True,
) -> dict:
    """Next-frame metrics of a loaded checkpoint beside copy-last-frame (``vstm eval``).

    ``data``, ``binarize`` and ``mnist_dir`` default to the checkpoint's training settings
    (binarisation only where it means something: Moving MNIST or a ``.npy``); frame ``context``
    of each sequence is predicted from the frames before it; at most ``num`` sequences.
    ``short_hint`` is added to the error when the clips are too short for ``context``.

    Returns ``{"data", "binarize", "results": {predictor: metrics}}``, the checkpoint's model
    first (named by ``header["model"]``), then ``"copy-last-frame"``, then with ``classical``
    (and OpenCV installed, and ``context`` >= 2) ``"dis"`` and ``"farneback"``: their flow
    between the last two context frames extrapolated at constant velocity.
    """
    from torch.utils.data import DataLoader, Subset

    tc = inherited_settings(header, checkpoint)
    data = canonical_data(data or tc.get("data", "moving-mnist"))
    mnist_like = is_moving_mnist(data) or str(data).lower().endswith(".npy")
    if binarize is None:  # inherited from the checkpoint, only where it means something
        binarize = bool(tc.get("binarize", False)) and mnist_like
    # else the user's choice; build_dataset says if it does not apply
    video = video_settings(header.get("train_config") or {}, data)
    ds = build_dataset(
        data,
        split="test",
        seq_len=context + 1,
        channels=model.in_channels,
        size=tc.get("size"),
        binarize=binarize,
        num_sequences=num,
        seed=seed,
        mnist_dir=mnist_dir or tc.get("mnist_dir"),
        short_hint=short_hint,
        **video,
    )
    if not is_moving_mnist(data) and len(ds) > num:
        ds = Subset(ds, range(num))
    rows = {}
    with torch.no_grad():
        loader = DataLoader(ds, batch_size=batch_size)
        rows[header["model"]] = evaluate_predictor(
            model_predictor(model, model_outputs(header), precision), loader, context, device
        )
        rows["copy-last-frame"] = evaluate_predictor(copy_last_predictor, loader, context, device)
        if classical and context >= 2:
            for method, predictor in classical_predictors().items():
                rows[method] = evaluate_predictor(predictor, loader, context, device)
    return {"data": data, "binarize": binarize, "results": rows, **video}


def video_settings(tc: dict, data: str) -> dict:
    """How a video checkpoint's training read its frames, for scoring it on ``data``: clips
    starting at every frame (``vstm reproduce figure6``'s held-out protocol), its
    ``frame_step`` (the motion per step it learned), its frame cache, and, when ``data`` is
    the data it trained on with ``holdout``, the span of every video it never saw, ``(1 -
    holdout, 1)``: scores on frames a model trained on are not test scores. Empty for
    generated data and ``.npy``."""

    if is_generated(data) or str(data).lower().endswith(".npy"):
        return {}
    out: dict = {"stride": 1}  # a clip at every frame: every frame past the context is scored
    step = tc.get("frame_step")
    if isinstance(step, int) and step > 1:
        out["frame_step"] = step
    cache = frame_cache_dir(tc["frame_cache"]) if isinstance(tc.get("frame_cache"), str) else None
    if cache is not None:  # decoded once, as in training (a truncated file's clips past its
        out["cache_dir"] = cache  # end are dropped)
    holdout, trained = tc.get("holdout"), tc.get("data")
    held_out = isinstance(holdout, int | float) and 0 < holdout < 1
    if held_out and isinstance(trained, str) and same_path(trained, str(data)):
        out["span"] = (1.0 - float(holdout), 1.0)
        log.info("scoring the last %g of every video: the run trained on the rest", holdout)
    return out


CLASSICAL_ROWS = {"dis": "OpenCV DIS, constant velocity", "farneback": "OpenCV Farnebäck, c.v."}
"""The classical rows of ``vstm eval`` (result key -> label)."""


def classical_predictors() -> dict[str, Predictor]:
    """OpenCV DIS and Farnebäck flow between the last two context frames, extrapolated at
    constant velocity (:func:`vstm.baselines.classical.predict_constant_velocity`), as
    :data:`Predictor` s; empty, with one logged line, when OpenCV is not installed."""
    missing = opencv_missing()
    if missing:
        log.warning("no classical rows: %s", missing)
        return {}

    def make(method: str) -> Predictor:
        def predict(context: torch.Tensor):
            pred, motion = predict_constant_velocity(context.float(), method)  # type: ignore
            return pred.clamp(0, 1), motion

        return predict

    return {m: make(m) for m in CLASSICAL_ROWS}


# ------------------------------------------------------------------- multi-frame (10 -> 10)
OPENSTL_SSIM = {"data_range": 2.0, "window": "uniform", "win_size": 7, "sample_covariance": True}
"""The options of :func:`vstm.metrics.ssim` that reproduce OpenSTL's SSIM.

OpenSTL (``openstl/core/metrics.py``, ``metric``) calls scikit-image's
``structural_similarity(pred, true, multichannel=True)`` on float frames in [0, 1] with no
``data_range``: scikit-image then uses its defaults, a 7 x 7 uniform window, sample
covariances (N/(N-1)), and ``data_range`` guessed from the float dtype's nominal range
[-1, 1], i.e. 2 (not 1), so its K1, K2 constants are 4 times larger than for
``data_range=1`` and its SSIM reads higher. Newer scikit-image refuses floats without
``data_range``; these options keep the published behaviour."""

RolloutPredictor = Callable[[torch.Tensor, int], torch.Tensor]
"""(context frames (B, K, C, H, W), horizon N) -> forecast (B, N, C, H, W) in [0, 1]."""

PROTOCOLS = {"10to10": (10, 10)}
"""Named multi-frame protocols: name -> (context frames K, forecast frames N)."""


def model_rollout_predictor(
    model: VideoPredictor, outputs: str, precision: str = "fp32"
) -> RolloutPredictor:
    """Wrap a model's closed-loop :meth:`~vstm.models.VideoPredictor.rollout` (under bf16
    autocast with ``precision="bf16"``; the forecasts come back as fp32)."""

    @torch.no_grad()
    def predict(context: torch.Tensor, horizon: int) -> torch.Tensor:
        with autocast(context.device, precision):
            return model.rollout(context, horizon, outputs).pred.float()

    return predict


def copy_last_rollout(context: torch.Tensor, horizon: int) -> torch.Tensor:
    """The copy-last-frame baseline: every future frame is the last context frame."""
    return context[:, -1:].expand(-1, horizon, -1, -1, -1)


def evaluate_rollout(
    predictor: RolloutPredictor,
    batches: Iterable[dict],
    context: int = 10,
    horizon: int = 10,
    device: torch.device | str = "cpu",
) -> dict:
    """Score a K -> N forecast in OpenSTL's Moving MNIST convention.

    Frames 0..K-1 of each sequence are the context; the predictor forecasts frames K..K+N-1
    (closed loop for the models) and each forecast frame is compared with the truth:

    - ``mse``, ``mae``: the squared / absolute error **summed** over the frame's C x H x W
      pixels (:func:`vstm.metrics.mse` with ``pixels="sum"``), then averaged over frames
      and sequences: OpenSTL's ``MSE``/``MAE`` (``np.mean(..., axis=(0, 1)).sum()``), e.g.
      MSE 29.80 for its ConvLSTM on 64 x 64 Moving MNIST.
    - ``ssim``: per frame with :data:`OPENSTL_SSIM`, averaged.
    - ``psnr``: per frame, 10 log10(1 / MSE) with MSE the frame's mean, averaged; a frame
      predicted exactly counts as 100 dB (OpenSTL's mean would become +inf).

    Differences from OpenSTL, besides the data and the model: forecasts are frames in
    [0, 1] (:func:`vstm.models.to_probabilities`: the sigmoid of BCE-trained models' logits,
    MSE-trained models' values clamped), and MSE/MAE are taken on them; OpenSTL takes MSE and
    MAE on the raw, unclipped outputs and clips to [0, 1] only for SSIM and PSNR. OpenSTL
    computes in numpy (float32 pixels, float64 SSIM); here float32 throughout, float64 sums.

    Args:
        predictor: see :data:`RolloutPredictor`.
        batches: dicts with "frames" (B, T, C, H, W), T >= K + N.
        context, horizon: K and N.

    Returns:
        ``{"mse", "mae", "ssim", "psnr": means over all forecast frames, "per_step": {metric:
        [N means, one per horizon step]}, "sequences": count, "context": K, "horizon": N}``.
    """

    check_horizon(horizon)
    names = ("mse", "mae", "ssim", "psnr")
    sums = {k: torch.zeros(horizon, dtype=torch.float64) for k in names}
    n = 0
    for batch in batches:
        frames = batch["frames"].to(device)
        if frames.shape[1] < context + horizon:
            raise VstmError(
                f"sequences of {frames.shape[1]} frames cannot score {context} -> {horizon}; "
                f"use sequences of at least {context + horizon} frames"
            )
        target = frames[:, context : context + horizon].float()  # (B, N, C, H, W)
        pred = predictor(frames[:, :context], horizon).float()  # (B, N, C, H, W)
        per = {  # each (B, N)
            "mse": metrics.mse(pred, target, reduction="none", pixels="sum"),
            "mae": metrics.mae(pred, target, reduction="none", pixels="sum"),
            "ssim": metrics.ssim(pred, target, reduction="none", **OPENSTL_SSIM),
            "psnr": metrics.psnr(pred, target, max_db=100.0, reduction="none"),
        }
        for k in names:
            sums[k] += per[k].double().sum(dim=0).cpu()
        n += frames.shape[0]
    if n == 0:
        raise VstmError("no sequences to evaluate; check the data set and --num")
    result: dict = {k: float(sums[k].sum()) / (n * horizon) for k in names}
    result["per_step"] = {k: (sums[k] / n).tolist() for k in names}
    result.update(sequences=n, context=context, horizon=horizon)
    return result


def evaluate_checkpoint_rollout(
    model: VideoPredictor,
    header: dict,
    checkpoint: str,
    protocol: str,
    *,
    data: str | None = None,
    num: int = 1000,
    batch_size: int = 32,
    seed: int = 0,
    binarize: bool = False,
    mnist_dir: str | None = None,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
) -> dict:
    """Closed-loop K -> N forecasts of a loaded checkpoint beside copy-last-frame, scored with
    OpenSTL's metrics (``vstm eval --protocol 10to10``; ``protocol`` names a :data:`PROTOCOLS`
    entry).

    ``data`` defaults to Moving MNIST (not to the training data) and the frames are binarised
    only when asked: OpenSTL's targets are grey frames in [0, 1]. Returns ``{"data",
    "binarize", "context", "horizon", "results": {predictor: metrics}}``, the checkpoint's
    model first.
    """
    from torch.utils.data import DataLoader

    context, horizon = PROTOCOLS[protocol]
    data = data or "moving-mnist"
    ds = rollout_test_set(model, header, checkpoint, protocol, data, num, seed, binarize,
                          mnist_dir)  # fmt: skip
    loader = DataLoader(ds, batch_size=batch_size)
    predictors = {
        header["model"]: model_rollout_predictor(model, model_outputs(header), precision),
        "copy-last-frame": copy_last_rollout,
    }
    with torch.no_grad():
        rows = {
            name: evaluate_rollout(p, loader, context, horizon, device)
            for name, p in predictors.items()
        }
    return {
        "data": data,
        "binarize": binarize,
        "context": context,
        "horizon": horizon,
        "results": rows,
    }


def rollout_test_set(
    model: VideoPredictor,
    header: dict,
    checkpoint: str,
    protocol: str,
    data: str,
    num: int,
    seed: int,
    binarize: bool,
    mnist_dir: str | None,
):
    """The first ``num`` test clips of ``protocol`` (context + horizon frames) from ``data``,
    at the checkpoint's frame size: what :func:`evaluate_checkpoint_rollout` scores and
    :func:`draw_forecasts` draws."""
    from torch.utils.data import Subset

    context, horizon = PROTOCOLS[protocol]
    tc = inherited_settings(header, checkpoint)
    ds = build_dataset(data, split="test", seq_len=context + horizon,
                       channels=model.in_channels, size=tc.get("size"), binarize=binarize,
                       num_sequences=num, seed=seed,
                       mnist_dir=mnist_dir or tc.get("mnist_dir"))  # fmt: skip
    if not is_moving_mnist(data) and len(ds) > num:
        ds = Subset(ds, range(num))
    return ds


def draw_forecasts(
    path,
    model: VideoPredictor,
    header: dict,
    checkpoint: str,
    protocol: str,
    *,
    sequences: int = 3,
    data: str | None = None,
    seed: int = 0,
    binarize: bool = False,
    mnist_dir: str | None = None,
    device: torch.device | str = "cpu",
) -> None:
    """The first ``sequences`` test sequences of ``protocol`` forecast in closed loop, drawn
    as inputs | truth | forecast | flow (:func:`vstm.viz.figures.forecast_figure`) to the
    PNG ``path``: the same sequences :func:`evaluate_checkpoint_rollout` scores first."""
    context, horizon = PROTOCOLS[protocol]
    ds = rollout_test_set(model, header, checkpoint, protocol, data or "moving-mnist",
                          max(sequences, 1), seed, binarize, mnist_dir)  # fmt: skip
    clips = torch.stack([ds[i]["frames"] for i in range(min(sequences, len(ds)))]).to(device)
    with torch.no_grad():
        r = model.rollout(clips[:, :context], horizon, model_outputs(header))
    motion = None
    if r.flow is not None:
        scale = clips.shape[-1] // r.flow.shape[-1]
        motion = flow_to_motion(r.flow.float(), scale).cpu()
    image = forecast_figure(clips[:, :context].cpu(), clips[:, context:].cpu(),
                            r.pred.float().cpu(), motion)  # fmt: skip
    save_png(path, image)


def plot_rollout_curves(path, rows: dict[str, dict]) -> None:
    """Per-step MSE and SSIM against the horizon step, one curve per predictor, as PNGs.

    ``rows``: predictor name -> :func:`evaluate_rollout` result. Writes ``path`` (MSE) and
    ``path`` with ``_ssim`` before the suffix (SSIM), atomically.
    """
    from pathlib import Path

    path = Path(path)
    for metric, label, out in (
        ("mse", "MSE per frame (sum over pixels)", path),
        ("ssim", "SSIM (OpenSTL convention)", path.with_name(f"{path.stem}_ssim{path.suffix}")),
    ):
        series = {
            name: (list(range(1, len(r["per_step"][metric]) + 1)), r["per_step"][metric])
            for name, r in rows.items()
        }
        plot_curves(out, series, "forecast step", label, title=f"{metric.upper()} vs horizon")
