"""Table 1's scoring (paper 5.1): the held-out test set, a model's scores on it, the
baselines (copy-last, OpenCV's DIS and Farnebäck at constant velocity) and the oracle that
warps with the generator's true motion. :mod:`vstm.experiments.table1` runs the protocol."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from vstm.baselines.classical import predict_constant_velocity
from vstm.eval.next_frame import (
    TEST_SEED,
    copy_last_predictor,
    evaluate_predictor,
    model_predictor,
    moving_mnist_test_set,
)
from vstm.experiments.runs import checkpoint_of, read_json, trained_on
from vstm.io import atomic_write_text
from vstm.models import facts_of, to_probabilities
from vstm.models.checkpoint import load_checkpoint, model_outputs
from vstm.nn import warp
from vstm.train.lineage import total_seconds, total_steps

if TYPE_CHECKING:
    pass


__all__ = [
    "evaluate_baselines",
    "evaluate_model",
    "heldout_test_set",
    "last_frame_predictor",
    "oracle_scores",
]

log = logging.getLogger(__name__)


def heldout_test_set(num_sequences: int, context: int, size: int):
    """The fixed held-out test set (:func:`vstm.eval.next_frame.moving_mnist_test_set`, binarised):
    its items hold ``frames`` (context + 1, 1, size, size) and the generator's ``motion``
    (context, 2, size, size)."""

    return moving_mnist_test_set(num_sequences, context, size)


def _batches(dataset, batch_size: int) -> Iterable[dict]:
    from torch.utils.data import DataLoader

    return DataLoader(dataset, batch_size=batch_size, shuffle=False)


def _score(
    predictor: Callable, dataset, context: int, batch_size: int, device
) -> tuple[dict[str, float], float]:
    """(metrics of :func:`~vstm.eval.next_frame.evaluate_predictor`, seconds it took)."""

    t0 = time.monotonic()
    with torch.no_grad():
        result = evaluate_predictor(predictor, _batches(dataset, batch_size), context, device)
    return result, time.monotonic() - t0


def last_frame_predictor(model, outputs: str) -> Callable:
    """:func:`~vstm.eval.next_frame.model_predictor`, computing only the scored prediction.

    AE-Conv has no recurrence: its prediction of frame K depends on the window of the last
    ``window`` context frames only, so it is computed from that one window (the state
    argument carries the K-1 frames before the last; frames before the sequence are zeros,
    as in a full forward pass) instead of predicting all K frames and keeping the last. The
    result equals ``model_predictor(model, outputs)`` exactly; other models go through
    ``model_predictor`` unchanged.

    Args:
        model: a registry model; outputs: ``"logits"`` or ``"values"``.

    Returns:
        a predictor: context (B, K, C, H, W) -> (probabilities (B, C, H, W), motion or None).
    """

    full = model_predictor(model, outputs)
    facts = facts_of(model)
    if facts is None or facts.context_field != "window":  # the frames-as-channels window
        return full

    @torch.no_grad()
    def predict(context: torch.Tensor):
        b, k, c, h, w = context.shape
        window = model.config.window
        before = context[:, max(k - window, 0) : k - 1]  # (B, <=window-1, C, H, W)
        pad = context.new_zeros(b, window - before.shape[1], c, h, w)
        state = torch.cat((pad, before), dim=1)  # (B, window, C, H, W); state[:, 0] unused
        last = model(context[:, -1:], state=state).pred[:, -1].float()
        return to_probabilities(last, outputs), None

    return predict


def evaluate_model(
    run_dir: Path, dataset, context: int, batch_size: int, device: torch.device
) -> dict[str, Any]:
    """Test scores of a run's best checkpoint (cached in ``run_dir/test_eval.json``).

    Args:
        run_dir: the model's run folder; dataset: :func:`heldout_test_set`; context: K, the
            frames fed before the scored frame K+1; batch_size: test batch; device: where
            the model runs.

    Returns:
        ``{"key", "scores", "eval_seconds", "parameters", "checkpoint_step", "batch_size",
        "steps", "train_seconds", "trained_on"}``: ``scores`` are
        :func:`~vstm.eval.next_frame.evaluate_predictor`'s; the last three describe the run as it
        is now, read afresh even when the scores come from the cache.
    """

    ckpt = checkpoint_of(run_dir)
    header = read_json(ckpt.with_suffix(".json")) or {}
    key = {
        "checkpoint": ckpt.name,
        "step": (header.get("trainer") or {}).get("step"),
        "test_sequences": len(dataset),
        "test_seed": TEST_SEED,
        "context": context,
    }
    last = read_json(run_dir / "last.json") or header
    trainer = last.get("trainer") or {}
    run_facts = {  # what the run received so far: read afresh, the scores may be cached
        "steps": total_steps(trainer),  # a warm start's lineage included
        "train_seconds": total_seconds(trainer),
        "trained_on": trained_on(last),
    }
    cache = read_json(run_dir / "test_eval.json")
    if cache is not None and cache.get("key") == key:
        log.info("%s: test scores cached in %s", run_dir.name, run_dir / "test_eval.json")
        return {**cache, **run_facts}
    model, header = load_checkpoint(ckpt, map_location=device)
    log.info("%s: scoring %s on %d test sequences", run_dir.name, ckpt.name, len(dataset))
    scores, seconds = _score(
        last_frame_predictor(model, model_outputs(header)), dataset, context, batch_size, device
    )
    log.info("%s: BCE %.4f, evaluated in %.0f s", run_dir.name, scores["bce"], seconds)
    record = {
        "key": key,
        "scores": scores,
        "eval_seconds": seconds,
        "parameters": sum(p.numel() for p in model.parameters()),
        "checkpoint_step": header["trainer"].get("step"),
        "batch_size": header["train_config"]["batch_size"],
        **run_facts,
    }
    atomic_write_text(run_dir / "test_eval.json", json.dumps(record, indent=2) + "\n")
    return record


def _cv2_missing() -> str | None:
    try:
        import cv2  # noqa: F401
    except ImportError:
        return "needs OpenCV: pip install 'vstm[baselines]'"
    return None


def evaluate_baselines(dataset, context: int, batch_size: int) -> dict[str, dict[str, Any]]:
    """Scores of the rows in :data:`BASELINES` on the test set, keyed as there (CPU; DIS and
    Farnebäck need OpenCV, and without it hold ``{"scores": None, "note": ...}``)."""
    threads = torch.get_num_threads()
    # Their torch work is small per-batch tensor ops between OpenCV calls; on a CPU shared with
    # other jobs, multi-threaded small ops wait on descheduled threads: one thread is faster.
    torch.set_num_threads(1)
    try:
        return _evaluate_baselines(dataset, context, batch_size)
    finally:
        torch.set_num_threads(threads)


def oracle_scores(dataset, context: int, batch_size: int) -> dict[str, Any]:
    """The floor of a warping predictor: frame K-1 warped by the generator's true motion.

    Each digit's 28x28 layer moves rigidly (``MovingMNIST.generate(layer_flow=True)``), so
    the prediction of frame K is ``warp(frames[K-1], layer_flow[K-1])``, with the model's
    bilinear sampler. Positions are whole pixels, so the warped frame is binary again; it is
    wrong only where digits overlap (occlusion) or a digit's ink leaves an old box no new box
    covers. Hard 0/1 pixels would cost ~16 nats per wrong pixel, so the probabilities are
    clipped to ``[eps, 1 - eps]`` for the BCE, with ``eps`` the oracle's own wrong-pixel
    rate on the test set: the constant that minimises its BCE, which is then the binary
    entropy of that rate. MSE, PSNR and SSIM score the warped frame unclipped.

    Returns:
        ``{"scores": ..., "eval_seconds": ..., "eps": eps, "wrong_pixels": rate}``.
    """

    t0 = time.monotonic()
    n = len(dataset)
    starts = range(0, n, batch_size)

    def batches() -> Iterable[dict[str, torch.Tensor]]:
        for s in starts:
            idx = [dataset.offset + i for i in range(s, min(n, s + batch_size))]
            yield dataset.generate(idx, layer_flow=True)

    def warped(batch: dict[str, torch.Tensor]) -> torch.Tensor:  # (B, C, H, W)
        return warp(batch["frames"][:, context - 1], batch["layer_flow"][:, context - 1])

    wrong = 0.0
    for batch in batches():
        target = batch["frames"][:, context]
        wrong += float(((warped(batch) > 0.5) != (target > 0.5)).double().mean((1, 2, 3)).sum())
    eps = min(max(wrong / n, 1e-7), 0.5)
    current: dict[str, torch.Tensor] = {}

    def feed(clip: float) -> Iterable[dict[str, torch.Tensor]]:
        for batch in batches():
            current["pred"] = warped(batch).clamp(0.0, 1.0) * (1.0 - 2.0 * clip) + clip
            yield batch

    def predictor(ctx: torch.Tensor):  # the prediction of the batch ``feed`` just yielded
        return current["pred"], None

    with torch.no_grad():
        # MSE, PSNR and SSIM of the warped frame itself (SSIM's small constant would make
        # a background of eps instead of 0 cost ~0.2); BCE of the clipped probabilities.
        scores = evaluate_predictor(predictor, feed(0.0), context, "cpu")
        scores["bce"] = evaluate_predictor(predictor, feed(eps), context, "cpu")["bce"]
    return {
        "scores": scores,
        "eval_seconds": time.monotonic() - t0,
        "eps": eps,
        "wrong_pixels": wrong / n,
    }


def _evaluate_baselines(dataset, context: int, batch_size: int) -> dict[str, dict[str, Any]]:

    out: dict[str, dict[str, Any]] = {"oracle": oracle_scores(dataset, context, batch_size)}
    log.info(
        "oracle: BCE %.4f (%.3f%% wrong pixels)",
        out["oracle"]["scores"]["bce"],
        100 * out["oracle"]["wrong_pixels"],
    )
    scores, seconds = _score(copy_last_predictor, dataset, context, batch_size, "cpu")
    out["copy-last"] = {"scores": scores, "eval_seconds": seconds}
    missing = _cv2_missing()
    for method in ("dis", "farneback"):
        if missing:
            out[method] = {"scores": None, "note": missing}
            continue

        def predictor(ctx: torch.Tensor, method: str = method):
            return predict_constant_velocity(ctx, method)  # type: ignore[arg-type]

        scores, seconds = _score(predictor, dataset, context, batch_size, "cpu")
        out[method] = {"scores": scores, "eval_seconds": seconds}
        log.info("%s: BCE %.4f, evaluated in %.0f s", method, scores["bce"], seconds)
    return out


# -------------------------------------------------------------------------------- figures
