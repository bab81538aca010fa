"""The demo (``vstm demo``): the paper's model on Moving MNIST, drawn: from the shipped weights
at once, or trained from scratch for a few minutes (``from_scratch``).

By default the demo starts from the AE-ConvLSTM-flow weights this project trained and ships
inside the package (``pretrained:ae-convlstm-flow/moving-mnist``): it copies them into the
run folder as ``best.safetensors``, scores them on held-out test sequences (BCE, and the
learned motion's end-point error beside zero motion) and draws them. With
``from_scratch`` it trains the same architecture for ``minutes`` instead.

Leaves in the run folder: ``best.safetensors`` (and, when trained, ``last.safetensors``),
``figure5.png`` (the paper's Figure 5 layout on held-out test sequences), ``predictions.mp4``
(input | predicted next frame | flow colour over whole sequences), ``flow_legend.png``,
``curves.png`` and ``demo_scores.json``. Running it again continues a from-scratch run (or
only redraws when training is complete).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from vstm.data import VIDEO_EXTENSIONS, build_dataset
from vstm.errors import VstmError
from vstm.eval.next_frame import (
    copy_last_predictor,
    evaluate_predictor,
    moving_mnist_scores,
    moving_mnist_test_set,
)
from vstm.experiments.figure6 import Figure6Settings, run_figure6
from vstm.inference.next_frame import predict_video
from vstm.io import atomic_path, atomic_write_text
from vstm.metrics import flow_to_motion
from vstm.models import pretrained, to_probabilities
from vstm.models.checkpoint import load_checkpoint, model_outputs
from vstm.train.config import make_config
from vstm.train.loop import resume_config, train
from vstm.train.metrics_log import read_metrics
from vstm.viz import color_wheel_legend, plot_curves, save_png, write_video
from vstm.viz.figures import figure5, sequence_panels

__all__ = [
    "DEMO_SETTINGS",
    "PRETRAINED",
    "REAL_DATA",
    "REAL_PRETRAINED",
    "draw",
    "prepare_run",
    "real_video",
    "score",
]

log = logging.getLogger("vstm.demo")

DEMO_SETTINGS = {
    "model": "ae-convlstm-flow",
    "data": "moving-mnist",
    "context": 5,
    "batch_size": 8,
    "optimizer": "adam",
    "lr": 1e-3,
    "flow_lr_scale": 0.1,
    "steps": 100_000,
    "val_sequences": 32,
    "log_every": 10,
}
"""The demo departs from the paper's recipe (RMSprop at 1e-4, 10-frame clips, many epochs) in
the optimiser, learning rate (Θ at a tenth of the rest, see ``TrainConfig.flow_lr_scale``),
batch and clip length only: a few CPU minutes must show the flow forming. The model is the
paper's configuration."""


PRETRAINED = ("ae-convlstm-flow", "moving-mnist")
"""The shipped weights the demo starts from."""

REAL_PRETRAINED = ("ae-convlstm-pixelflow", "opencv-samples")
"""The shipped real-video weights the demo shows on real clips, where the machine has them."""

REAL_DATA = "data/opencv-samples"
"""Where ``make samples`` puts OpenCV's sample videos."""

REAL_HINT = (
    "real video: 'make samples' fetches OpenCV's sample videos (Debian's opencv-doc, about "
    "96 MB, by apt-get download) into data/opencv-samples; 'make demo' then also shows the "
    "real-video model on them"
)
"""The one line the demo prints when the real clips are not on this machine."""


def real_video(out: Path, data: str | Path = REAL_DATA, clip_frames: int = 120) -> dict | None:
    """The shipped real-video model on the real clips in ``data``, if they are there.

    Writes into ``out``: Figure 6 and its table on the held-out end of every video
    (:func:`vstm.experiments.figure6.run_figure6`, the model's own training protocol, with
    copy-last, DIS and Farnebäck beside it) and ``predictions.mp4``: input | predicted next
    frame | motion colour over the first ``clip_frames`` frames of ``vtest.avi`` (or the first
    video). Returns the Figure 6 report and the video's path, or None when ``data`` holds no
    video (nothing is downloaded).
    """

    folder = Path(data)
    videos = sorted(p for p in folder.glob("*") if p.suffix.lower() in VIDEO_EXTENSIONS)
    if not videos:
        return None
    key = f"{pretrained.PREFIX}{REAL_PRETRAINED[0]}/{REAL_PRETRAINED[1]}"
    model, header = load_checkpoint(key)
    tc = header.get("train_config") or {}
    settings = Figure6Settings(
        str(folder),
        str(out),
        checkpoint=key,
        holdout=float(tc.get("holdout") or 0.2),
        size=int(tc.get("size") or 96),
        channels=model.in_channels,
        frame_step=int(tc.get("frame_step") or 2),
    )
    report = run_figure6(settings, f"vstm reproduce figure6 --data {folder} --checkpoint {key}")
    clip = next((v for v in videos if v.name == "vtest.avi"), videos[0])
    result = predict_video(
        model,
        header,
        str(clip),
        out,
        size=settings.size,
        frame_step=settings.frame_step,
        max_frames=clip_frames,
    )
    return {"report": report, "video": result.video}


def draw(run: Path, sequences: int = 4, device: str | torch.device = "cpu") -> dict[str, Path]:
    """Figure 5, the prediction video, the flow legend and learning curves of a run."""

    ckpt = run / "best.safetensors"
    if not ckpt.exists():
        ckpt = run / "last.safetensors"
    model, header = load_checkpoint(ckpt, map_location=device)
    tc = header["train_config"]
    ds = build_dataset(
        "moving-mnist",
        split="test",
        seq_len=20,
        channels=model.in_channels,
        size=tc.get("size"),
        binarize=tc.get("binarize", False),
        num_sequences=sequences,
    )
    batch = [ds[i] for i in range(sequences)]
    frames = torch.stack([b["frames"] for b in batch]).to(device)  # (N, 20, C, H, W)
    truth_motion = torch.stack([b["motion"] for b in batch]).to(device)  # (N, 19, 2, H, W)
    outputs = model_outputs(header)
    with torch.no_grad():
        out = model(frames[:, :-1])
    preds = to_probabilities(out.pred, outputs)
    n, t = out.flow.shape[:2]
    scale = frames.shape[-1] // out.flow.shape[-1]
    motion = flow_to_motion(out.flow.flatten(0, 1), scale=scale).unflatten(0, (n, t))
    k = 10  # as the paper's Figure 5: predict frame 11 from 10 inputs
    paths = {}
    paths["figure"] = run / "figure5.png"
    save_png(
        paths["figure"],
        figure5(
            frames[:, :k].cpu(),
            frames[:, k].cpu(),
            {"prediction": preds[:, k - 1].cpu()},
            motion[:, k - 1].cpu(),
            truth_motion[:, k - 1].cpu(),
        ),
    )
    norm = float(truth_motion.norm(dim=2).max()) or 1.0
    paths["video"] = run / "predictions.mp4"
    write_video(
        paths["video"],
        sequence_panels(frames[:, :-1].cpu(), preds.cpu(), motion.cpu(), norm),
        fps=4,
    )
    paths["legend"] = run / "flow_legend.png"
    save_png(paths["legend"], color_wheel_legend(151))
    tr, va = read_metrics(run, "train"), read_metrics(run, "val")
    if not tr and not va:
        return paths
    paths["curves"] = run / "curves.png"
    plot_curves(
        paths["curves"],
        {
            "train loss": ([r["step"] for r in tr], [r["loss"] for r in tr]),
            "validation loss": ([r["step"] for r in va], [r["val_loss"] for r in va]),
        },
        xlabel="step",
        ylabel="loss (BCE + w_H H)",
        title="vstm demo",
        logy=True,
    )
    return paths


def score(run: Path, sequences: int, device: str | torch.device = "cpu") -> dict[str, float]:
    """Held-out test scores of the run's checkpoint, beside zero motion (copy last frame).

    Table 1's protocol on its first ``sequences`` test sequences: frame 11 from frames 1..10.
    """
    from torch.utils.data import DataLoader

    model, header = load_checkpoint(run, map_location=device)
    tc = header.get("train_config") or {}
    size, binarize = tc.get("size") or 64, bool(tc.get("binarize", False))
    settings = {"sequences": sequences, "size": size, "binarize": binarize}
    scores = moving_mnist_scores(model, model_outputs(header), **settings)
    test = moving_mnist_test_set(sequences, size=size, binarize=binarize)
    zero = evaluate_predictor(copy_last_predictor, DataLoader(test, batch_size=64), 10)
    result = {
        **{k: float(v) for k, v in scores.items()},
        "zero_motion_epe": float(zero["epe"]),
        "copy_last_bce": float(zero["bce"]),
    }
    atomic_write_text(run / "demo_scores.json", json.dumps(result, indent=2) + "\n")
    return result


def _start_from_pretrained(out: Path) -> None:
    """Copy the shipped weights (checksum-verified) and their training curve into ``out``."""
    import shutil

    name, dataset = PRETRAINED
    path = pretrained.resolve(f"{pretrained.PREFIX}{name}/{dataset}")
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "best.safetensors") as tmp:
        shutil.copyfile(path, tmp)
    curve = path.with_suffix(".metrics.jsonl")
    if curve.is_file():
        with atomic_path(out / "metrics.jsonl") as tmp:
            shutil.copyfile(curve, tmp)
    log.info("starting from the shipped weights %s%s/%s", pretrained.PREFIX, name, dataset)


def _holds_current_pretrained(out: Path) -> bool:
    """Whether ``out/best.safetensors`` is the shipped file of this version. A folder that holds
    no training run of its own holds a copy of the shipped weights: an older version's copy (or
    a damaged one) is replaced, so that an upgrade's demo shows the weights it ships."""

    best = out / "best.safetensors"
    if not best.is_file():
        return False
    entry = pretrained.find(*PRETRAINED)
    same = pretrained.matches(best, entry)
    if not same:
        log.info("%s holds other weights than the shipped %s; replacing them", best, entry.key)
    return same


def prepare_run(
    out: Path,
    *,
    from_scratch: bool = False,
    minutes: float = 4.0,
    device: str = "auto",
    precision: str = "auto",
) -> None:
    """Put the demo's checkpoint into the run folder ``out``: copy the shipped weights (unless
    ``out`` holds this version's copy already), or, with ``from_scratch``, train for
    ``minutes`` (a from-scratch run already in ``out`` continues).
    :func:`score` and :func:`draw` take it from there.

    Raises:
        VstmError: ``from_scratch`` into a folder that holds an earlier demo's shipped weights.
    """

    trained_here = (out / "last.safetensors").exists()
    if from_scratch and not trained_here and (out / "best.safetensors").exists():
        raise VstmError(
            f"{out} holds the shipped weights of an earlier demo; give --from-scratch "
            "another --out (e.g. runs/demo-scratch)"
        )
    if not from_scratch and not trained_here:
        if not _holds_current_pretrained(out):
            _start_from_pretrained(out)
    elif trained_here:
        cfg = resume_config(out, {"max_minutes": minutes, "device": device})
        log.info("continuing the demo run in %s", out)
        train(cfg, resume=True)
    else:
        cfg = make_config(
            DEMO_SETTINGS,
            {"out": str(out), "max_minutes": minutes, "device": device, "precision": precision},
        )
        train(cfg)
