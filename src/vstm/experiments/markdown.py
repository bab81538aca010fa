"""Markdown reports of the experiments: a results dict in, the report's text out.

- :func:`bench_markdown`: ``vstm bench --markdown`` (``docs/results/bench.md``), from the
  results of :func:`vstm.experiments.bench.run_bench`.
- :func:`table1_markdown`: ``table1.md``, from the report of
  :func:`vstm.experiments.table1.run_table1` (the same dict as ``table1.json``).

Formatting only: nothing here measures, trains, imports torch or writes a file, so the
experiments that produce the results and the command line that prints them both import it,
and a committed JSON can be rendered again without rerunning anything.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["bench_markdown", "table1_markdown"]


# ------------------------------------------------------------------ vstm bench
def _f(x: float | None, nd: int = 1) -> str:
    return "n/a" if x is None else f"{x:,.{nd}f}"


def _label(r: dict) -> str:
    """ "bf16 autocast, direct memory" and the like, for a training measurement."""
    prec = "bf16 autocast" if r.get("precision") == "bf16" else "fp32"
    return f"{prec}, {r['memory_path']} memory" if r.get("memory_path") else prec


def _caps_line(m: dict) -> str:
    caps = m.get("capabilities") or {}
    flags = ", ".join(caps.get("cpu_flags", [])) or "none of amx/avx512/avx2 reported"
    cuda = caps.get("cuda_device")
    gpu = f"; CUDA {cuda} (bf16: {'yes' if caps.get('cuda_bf16') else 'no'})" if cuda else ""
    return f"CPU flags {flags}{gpu}"


def _path_line(res: dict) -> str:
    p = res.get("path") or {}
    prec = "bf16 autocast" if p.get("precision") == "bf16" else "fp32"
    memory = f", {p['memory_conv']}" if p.get("memory_conv") else ""
    return f"{prec}{memory} ({p.get('reason', 'not recorded')})"


def bench_markdown(res: dict[str, Any], command: str) -> str:
    """docs/results/bench.md from :func:`vstm.experiments.bench.run_bench`'s results: command,
    machine, results, targets, scaling."""
    lines = [
        *_bench_intro(res, command),
        *_bench_results(res),
        *_bench_spread_and_bounds(res),
        *_bench_targets(res),
        *_bench_curves_and_scaling(res),
        *_bench_notes(res),
    ]
    return "\n".join(lines) + "\n"


def _bench_intro(res: dict[str, Any], command: str) -> list[str]:
    """The title, the command, the machine, the chosen path, the load and the setting."""
    m, sm = res["machine"], res["summary"]
    cfg = res["config"]
    return [
        "# Speed on this machine",
        "",
        f"Command: `{command}`  ",
        f"Date: {m['date']}  ",
        f"Machine: {m['cpu']}, {m['logical_cores']} logical cores, ISA {m['isa']}, native bf16: "
        f"{'yes' if m['bf16_native'] else 'no'}; torch {m['torch']}, {m['threads']} threads  ",
        *([f"GPU: {m['gpu']}  "] if m.get("gpu") else []),
        f"Capabilities: {_caps_line(m)}; machine class **{sm.get('machine_class', 'other')}**  ",
        f"Chosen path (`--precision {cfg.get('precision', 'auto')}`): {_path_line(res)}  ",
        f"Load average (1, 5, 15 min): {m['load_average']} at the start, "
        f"{m['load_average_end']} at the end; highest 1-minute load at the start of a "
        f"measurement: {max(x[1] for x in res['load_log'])}"
        + (
            " (this process alone accounts for about its thread count)"
            if m["idle"]
            else " (**other jobs were running: the numbers are taken under load**)"
        ),
        "",
        f"Paper model (AE-ConvLSTM-flow, 1,035,071 parameters), {cfg['size']}x{cfg['size']}, "
        f"batch {cfg['batch']}, {cfg['frames']} frames per clip, fp32 unless said. Forward: "
        f"{res['gflop_per_frame_forward']:.3f} GFLOP/frame; training counts 3x. Times are medians "
        f"of about {cfg['repeats']} runs ({cfg['naive_repeats']} for the naive reference) after "
        f"{cfg['train_warmup']} uncounted training steps ({cfg['warmup']} run(s) elsewhere).",
        "",
    ]


def _bench_results(res: dict[str, Any]) -> list[str]:
    """The results table: peak, training (chosen path, fp32, bf16, naive), inference and
    streaming (eager, CUDA graph, onnxruntime)."""
    sm, cfg = res["summary"], res["config"]
    lines = [
        "| measurement | frames/s | GFLOP/s | fraction of peak |",
        "|---|---:|---:|---:|",
        f"| peak: conv 7x7 80->256 at 32x32, batch {res['peak']['batch']}, fwd+bwd (median of "
        f"{_f(res['peak']['gflops_before'])} before and {_f(res['peak']['gflops_after'])} after "
        f"the training runs) | | {_f(sm['peak_gflops'])} | 1.00 |",
        f"| vstm training ({_label(res['train'])}) | {_f(sm['train_fps'], 2)} | "
        f"{_f(sm['train_gflops'])} | {sm['train_frac_peak']:.2f} |",
        f"| naive reference training (fp32) | {_f(sm['naive_train_fps'], 2)} | "
        f"{_f(sm['naive_train_gflops'])} | {sm['naive_frac_peak']:.2f} |",
    ]
    # the fp32 row only when the chosen path was another one (in JSON read back, the two are
    # equal dicts, not the same object)
    if res.get("fp32_train") is not None and res["fp32_train"] != res["train"]:
        f32 = res["fp32_train"]
        lines.append(
            f"| vstm training ({_label(f32)}) | {_f(f32['fps'], 2)} | {_f(f32['gflops'])} | "
            f"{f32['gflops'] / sm['peak_gflops']:.2f} |"
        )
    if sm.get("bf16_train_fps") is not None and res["bf16_train"].get("fps") != sm["train_fps"]:
        bf = res["bf16_train"]
        lines.append(
            f"| vstm training (bf16 autocast; {bf['setting']}) | {_f(sm['bf16_train_fps'], 2)} | "
            f"{_f(bf['gflops'])} | {bf['gflops'] / sm['peak_gflops']:.2f} |"
        )
    lines.append(
        f"| vstm inference, batch {cfg['batch']} (no gradients) | {_f(sm['infer_fps'])} | | |"
    )
    for k, v in res["stream"].items():
        lines.append(
            f"| streaming `model.step`, batch 1, {k} ({v.get('precision', 'fp32')}) | "
            f"{_f(v['fps'])} | | |"
        )
    for k, v in (res.get("stream_graphs") or {}).items():
        lines.append(
            f"| streaming step replayed from a CUDA graph, batch 1, {k} ({v['precision']}; "
            f"largest difference from the eager step {v['max_abs_diff_vs_eager']:.1e}) | "
            f"{_f(v['fps'])} | | |"
        )
    for k, v in (res.get("stream_onnx") or {}).items():
        lines.append(f"| streaming step in onnxruntime, batch 1, {k} (fp32) | {_f(v['fps'])} | | |")
    return lines


def _bench_spread_and_bounds(res: dict[str, Any]) -> list[str]:
    """The spread of the timed runs, the bounds at the conv peak and the peak memory."""
    sm = res["summary"]
    spread = {
        "peak": res["peak"]["times"],
        "training": res["train"]["times"],
        "naive": res["naive_train"]["times"],
        **{f"streaming {k}": v["times"] for k, v in res["stream"].items()},
        **{f"CUDA graph {k}": v["times"] for k, v in (res.get("stream_graphs") or {}).items()},
        **{f"onnxruntime {k}": v["times"] for k, v in (res.get("stream_onnx") or {}).items()},
    }
    bounds = ", ".join(f"{v['fps_at_peak']:.0f} frames/s at {k}" for k, v in res["stream"].items())
    train_bound = sm["peak_gflops"] / (3 * res["gflop_per_frame_forward"])
    return [
        "",
        "Spread of the timed runs (slowest / fastest; near 1.0 on an undisturbed machine): "
        + ", ".join(f"{k} {max(v) / min(v):.2f}" for k, v in spread.items())
        + ".",
        "",
        f"Bounds: if every FLOP ran at the measured conv peak, training would reach "
        f"{train_bound:.1f} frames/s and streaming {bounds}.",
        "",
        "Peak resident memory after the training measurement on the chosen path: "
        f"{_f(sm['peak_rss_mb'], 0)} MiB "
        f"(whole benchmark process: {_f(res['peak_rss_mb_process'], 0)} MiB).",
    ]


def _target_rows(targets: dict[str, dict], names: dict[str, str], strict: bool) -> list[str]:
    """One table row per target verdict; ``strict``: every key has a name in ``names``
    (otherwise the key itself stands in)."""
    lines = []
    for key, v in targets.items():
        op = "<=" if key == "peak_rss_mb" else ">="
        met = {True: "yes", False: "**no**", None: "n/a"}[v["met"]]
        name = names[key] if strict else names.get(key, key)
        lines.append(f"| {name} | {op} {v['target']:g} | {_f(v['value'], 2)} | {met} |")
    return lines


def _bench_targets(res: dict[str, Any]) -> list[str]:
    """The general targets, then this machine class's targets when the results have them."""
    sm, cfg = res["summary"], res["config"]
    header = ["", "| target | wanted | measured | met |", "|---|---:|---:|---|"]
    names = {
        "train_frac_peak": "training throughput / conv peak",
        "train_speedup_vs_naive": "training speed-up over the naive reference",
        "bf16_speedup_vs_naive": "bf16 training speed-up over the naive fp32 reference",
        "stream_fps_64": "streaming frames/s, 64x64 (fp32)",
        "stream_fps_176x144": "streaming frames/s, 176x144 (fp32)",
        "peak_rss_mb": f"peak RSS, training batch {cfg['batch']}, {cfg['frames']} frames (MiB)",
    }
    lines = ["", "## Targets", *header, *_target_rows(sm["targets"], names, strict=True)]
    mt = sm.get("machine_targets")
    if mt:
        names11 = {
            "train_speedup_vs_naive": f"training ({sm['train_precision']}, the chosen path) "
            "speed-up over the naive fp32 reference",
            "stream_fps_64": f"streaming frames/s, 64x64 ({sm['stream_precision']})",
            "stream_fps_176x144": f"streaming frames/s, 176x144 ({sm['stream_precision']})",
            "stream_frac_bound_64": "streaming 64x64 / its bound at the conv peak",
            "stream_frac_bound_176x144": "streaming 176x144 / its bound at the conv peak",
            "peak_rss_mb": names["peak_rss_mb"],
        }
        lines += ["", f"## Targets for this machine class: {mt['class']}", *header]
        lines += _target_rows(mt["targets"], names11, strict=False)
    return lines


def _bench_curves_and_scaling(res: dict[str, Any]) -> list[str]:
    """The bf16-vs-fp32 loss-curve verdict and the cost tables against frame size and
    sequence length, where the results have them."""
    lines: list[str] = []
    if "bf16_curves" in res:
        c = res["bf16_curves"]
        lines += [
            "",
            f"bf16 vs fp32 loss curves ({c['setting']}): largest relative gap "
            f"{c['max_rel_gap']:.3%}; last-10 mean differs by {c['tail_diff']:.2e} against a "
            f"noise level of {c['noise']:.2e}: {'match' if c['match'] else '**differ**'}.",
        ]
    if "scaling_size" in res:
        sc = res["scaling_size"]
        base = sc["rows"][0]
        lines += [
            "",
            f"## Cost per frame against frame size (training batch {sc['batch']}, "
            f"{sc['frames']} frames; streaming batch 1)",
            "",
            "| frame (WxH) | GFLOP/frame fwd | memory conv (train) | training ms/frame | "
            "training GFLOP/s | streaming ms/frame | cost / 64x64 (train) | FLOPs / 64x64 |",
            "|---|---:|---|---:|---:|---:|---:|---:|",
        ]
        for r in sc["rows"]:
            lines.append(
                f"| {r['size']} | {r['gflop_per_frame']:.2f} | {r['train_memory_path']} | "
                f"{r['train_ms_per_frame']:.0f} | "
                f"{r['train_gflops']:.1f} | {r['stream_ms_per_frame']:.1f} | "
                f"{r['train_ms_per_frame'] / base['train_ms_per_frame']:.2f} | "
                f"{r['gflop_per_frame'] / base['gflop_per_frame']:.2f} |"
            )
        sl = res["scaling_length"]
        lines += [
            "",
            f"## Cost per frame against sequence length (training, batch {sl['batch']}, "
            f"{sl['size']}x{sl['size']})",
            "",
            "| frames per clip | memory conv | training ms/frame | training GFLOP/s |",
            "|---:|---|---:|---:|",
        ]
        for r in sl["rows"]:
            lines.append(
                f"| {r['frames']} | {r['train_memory_path']} | {r['train_ms_per_frame']:.0f} | "
                f"{r['train_gflops']:.1f} |"
            )
    return lines


def _bench_notes(res: dict[str, Any]) -> list[str]:
    """The notes: what runs where on this machine (GPU or CPU) and what the naive reference is."""
    m = res["machine"]
    lines = ["", "## Notes", ""]
    rules = res.get("kernel_rules") or {}  # vstm.ops.select's constants, as the bench ran
    if m.get("gpu"):
        lines += [
            "- On the GPU every convolution goes to cuDNN (`lstm_impl` and `flow_impl` `auto` "
            "choose the direct form there); fp32 convolutions use TF32 (PyTorch's default for "
            "cuDNN). At the small batches of `--quick` a step is a few hundred small kernels, "
            "so the numbers measure launch overhead more than the GPU's arithmetic: the "
            "ratios to the conv peak and to the naive reference are not the GPU's capacity.",
            "- The CPU columns (ISA, bf16) describe the GPU machine's host processor, which "
            "only generates data here.",
        ]
    else:
        lines += [
            "- What is fast: Θ's two 15x15 convolutions (64->2, 2->2) run as GEMMs in "
            "training (`vstm.ops.gemm.conv2d_same_gemm`) and through the FFT, the kernel's "
            "spectrum built once per stream, when no gradient is wanted (streaming, "
            '`vstm.ops.spectral.SpectrumCache`); `flow_impl="auto"` on CPU, '
            "`--model-option flow_impl=direct` turns both off. oneDNN's direct algorithm runs "
            "these few-channel shapes at a few GFLOP/s, so 3% of the FLOPs took about a third of "
            "a training step. The ConvLSTM's fused gate convolution (the peak convolution "
            'itself) runs through the FFT over a sequence (`vstm.ops.spectral`, `lstm_impl="auto"`'
            f": on CPU for batches of {rules.get('fft_min_batch', 4)} or more while the kernel's "
            f"spectrum stays under {rules.get('fft_max_spectrum_mib', 160)} MiB, i.e. up to "
            "about 96x96 frames; `--model-option lstm_impl=direct` turns it off): one "
            "complex 80x256 matrix product per frequency bin, about 15x fewer FLOPs than the "
            "direct 7x7 convolution, so training GFLOP/s, counted in the direct algorithm's "
            "FLOPs as everywhere here, can exceed the measured peak. Streaming (`model.step`, "
            "batch 1) keeps the direct convolution. The decoder's nearest x2 upsampling and "
            "7x7 convolution run as one 5x5 convolution at low resolution with four phase "
            "outputs (`vstm.ops.upsample.up2_conv2d`: half the FLOPs, no upsampled map kept).",
            f"- bf16: this CPU {'has' if m['bf16_native'] else 'has no'} native bf16 "
            f"(ISA {m['isa']}); without it oneDNN emulates bf16 and `vstm train --precision "
            "bf16` warns.",
        ]
    lines.append(
        "- The naive reference (`vstm.models.reference.NaiveAEConvLSTMFlow`) is the same "
        "function written plainly: per time step E, eight gate convolutions, Θ by `F.conv2d`, "
        "warp, D upsampling then convolving; "
        "`tests/test_bench.py` checks it against the model, forward and gradients."
    )
    return lines


# ------------------------------------------------------------------ Table 1
def schedule_text(p: dict[str, Any]) -> str:
    """A recipe's learning-rate schedule in words (``p``: its protocol or train config)."""
    if p.get("schedule", "step") == "cosine":
        text = "cosine decay to lr/100 over the run"
    elif p.get("schedule") == "wsd":
        share = p.get("decay_fraction", 0.2)
        text = f"held, then cosine decay to lr/100 over the last {share:.0%} of the run"
    else:
        text = f"x{p['lr_decay']:g} every {p['decay_every']} epochs"
    if p.get("warmup_steps"):
        text = f"{p['warmup_steps']}-step linear warm-up, then {text}"
    return text


def _fmt(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return format(value, spec)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def _oracle_note(rows: list[dict[str, Any]], paper_best: float) -> list[str]:
    oracle = next((r for r in rows if r["key"] == "oracle" and r.get("scores")), None)
    if oracle is None:
        return []
    bce = oracle["scores"]["bce"]
    floor = "below" if bce < paper_best else "above"
    return [
        f"- Oracle: frame t warped by the generator's true motion (each digit's 28x28 layer "
        "moves rigidly) with the model's own bilinear sampler; "
        f"{100 * oracle['wrong_pixels']:.2f}% of its pixels are wrong (overlapping digits), "
        "and its probabilities are clipped to "
        f"[{oracle['eps']:.4f}, {1 - oracle['eps']:.4f}] for its BCE (that rate: the clip that "
        "minimises its BCE; MSE, SSIM and PSNR score the warped frame itself). It is the best "
        "a predictor that only warps frame t can do with one flow per "
        f"pixel and no knowledge of where it errs; its BCE {bce:.4f} is {floor} the paper's "
        f"{paper_best:.4f} for AE-ConvLSTM-flow. A model that outputs soft probabilities "
        "where it is unsure can go below it.",
    ]


def table1_markdown(report: dict[str, Any], paper_best: float) -> str:
    """``table1.md`` from :func:`vstm.experiments.table1.run_table1`'s report: the protocol,
    Table 1 beside the paper, and the flow table. ``paper_best``: the paper's test error for
    AE-ConvLSTM-flow, which the oracle's BCE is set against."""
    lines = [
        *_table1_protocol(report, paper_best),
        "",
        "| Architecture | Params (ours) | Params (paper) | BCE (ours) | Test error (paper) "
        "| MSE | SSIM | PSNR dB | Train min | Steps | Frames seen | Trained on | Eval s |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|",
        *(_table1_row(r) for r in report["rows"]),
        *_flow_table(report),
        "",
        "Files: `table1.json` (these numbers and the full protocol), `figure5.png`, `curves.png`.",
        "",
    ]
    return "\n".join(lines)


def _table1_protocol(report: dict[str, Any], paper_best: float) -> list[str]:
    """The title, the command and the protocol in words: date and wall-clock, machine,
    budget, data, recipe, test set, and the oracle's note."""
    p, m = report["protocol"], report["machine"]
    budget = []
    if p["budget_minutes"] is not None:
        budget.append(f"{p['budget_minutes']:g} wall-clock minutes per model")
    if p["epochs"] is not None:
        budget.append(f"at most {p['epochs']} epochs of {p['epoch_sequences']:,} sequences")
    if p["steps"] is not None:
        budget.append(f"{p['steps']} steps")
    if p.get("score_only"):
        budget = ["as each run received it (scored with --score-only; see Train min and Steps)"]
    if p.get("shipped"):
        budget = ["as each shipped run received it (the package's weights, scored with "
                  "--shipped; see Train min and Steps)"]  # fmt: skip
    gpu = f", {m['gpu']}" if "gpu" in m else ""
    continued = [  # rows warm-started from another checkpoint, then trained their own way
        f"- {r['name']}: continued {r['continued']}." for r in report["rows"] if r.get("continued")
    ]
    train_wall = sum(r.get("wall_seconds") or 0.0 for r in report["rows"])
    eval_wall = sum(r.get("eval_seconds") or 0.0 for r in report["rows"])
    return [
        "# Table 1 under one protocol",
        "",
        f"Command: `{report['command']}`",
        "",
        f"- Date: {report['date']}. Wall-clock: training {_minutes(train_wall)} (all models, "
        f"validation and checkpoints included), test evaluation {_minutes(eval_wall)} (all "
        f"rows); this invocation of the command {_minutes(report['wall_seconds'])}.",
        f"- {'Scored on' if p.get('score_only') else 'Machine'}: {m['cpu']}, {m['cpu_cores']} "
        f"cores ({m['torch_threads']} torch threads){gpu}; device {m['device']}; torch "
        f"{m['torch']}, Python {m['python']}"
        + (" (each model's training machine: column Trained on)." if p.get("score_only") else "."),
        f"- Budget: {'; '.join(budget) or 'none'}.",
        f"- Data: binarised Moving MNIST, {p['size']}x{p['size']}, 2 digits; training "
        f"sequences from the train digit pool (seed {p['seed']}, the same for every model), "
        f"{p['context']} frames in, BCE with logits on each of the {p['context']} next-frame "
        f"predictions of a clip.",
        f"- Recipe `{p['recipe']}`: {p['optimizer']} lr {p['lr']:g}, {schedule_text(p)}, "
        f"element-wise gradient clip {p['clip']:g}, "
        f"Θ's rate x{p.get('flow_lr_scale', 1.0):g}, batch {p['batch_size']}, "
        f"{p['precision']}; the same for every model"
        + ("" if not continued else ", but for the continuations below")
        + ".",
        *continued,
        f"- Test: {p['test_sequences']:,} sequences from the test digit pool (seed "
        f"{p['test_seed']}), scoring frame {p['context'] + 1} given frames 1..{p['context']}; "
        "each model's best checkpoint by validation loss. BCE is per pixel in nats (the "
        'paper\'s "test error"); a predictor that outputs hard 0/1 pixels pays ~16 nats per '
        "wrong pixel, so compare the classical rows on MSE, SSIM and PSNR.",
        *_oracle_note(report["rows"], paper_best),
    ]


def _table1_row(r: dict[str, Any]) -> str:
    """One row of Table 1: a model or a baseline beside the paper (a baseline that could
    not run shows its note instead of scores)."""
    s = r.get("scores") or {}
    if r["kind"] == "baseline" and r.get("scores") is None:
        return f"| {r['name']} | {r['note']} |" + " |" * 11
    train_min = None if r.get("train_seconds") is None else r["train_seconds"] / 60
    cells = [
        r["name"],
        _fmt(r.get("parameters"), ","),
        _fmt(r.get("paper_parameters"), ","),
        _fmt(s.get("bce"), ".4f"),
        _fmt(r.get("paper_test_error"), ".4f"),
        _fmt(s.get("mse"), ".4f"),
        _fmt(s.get("ssim"), ".3f"),
        _fmt(s.get("psnr"), ".2f"),
        _fmt(train_min, ".1f"),
        _fmt(r.get("steps"), ","),
        _fmt(r.get("frames_seen"), ","),
        r.get("trained_on") or "",
        _fmt(r.get("eval_seconds"), ".0f"),
    ]
    return "| " + " | ".join(cells) + " |"


def _flow_table(report: dict[str, Any]) -> list[str]:
    """The flow accuracy table: each method's motion t -> t+1 against the ground truth."""
    lines = [
        "",
        "Flow accuracy: the motion of frame t's content from t to t+1 (t = frame "
        f"{report['protocol']['context']}) against the generator's ground truth, on the digit "
        "pixels of frame t. AE-ConvLSTM-flow's motion is minus its flow, upsampled x2 (it is "
        "predicted before frame t+1 is seen); DIS and Farnebäck measure t-1 -> t and assume "
        "constant velocity.",
        "",
        "| Motion t -> t+1 | EPE (px) | Angular error (deg) |",
        "|---|--:|--:|",
    ]
    for f in report["flow"]:
        if f.get("epe") is None and f.get("note"):
            lines.append(f"| {f['name']} | {f['note']} | |")
        else:
            lines.append(
                f"| {f['name']} | {_fmt(f.get('epe'), '.3f')} | "
                f"{_fmt(f.get('angular_error'), '.2f')} |"
            )
    return lines
