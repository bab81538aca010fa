"""What this machine can do, and the fastest exact-enough path it offers (DESIGN section 8).

:func:`probe` reads the machine's capabilities once: the CPU's instruction-set flags (from
``/proc/cpuinfo``, or torch's own ``torch.backends.cpu.get_cpu_capability()`` where that file
does not exist) and the CUDA device with its bf16 support. :func:`choose_precision` turns them
into a :class:`PrecisionChoice` for ``precision="auto"``:

- a CUDA device with bf16 support: bf16 autocast;
- a CPU with AMX (bf16 matrix units): bf16 autocast;
- a CPU with AVX512-BF16 but no AMX: a short one-off measurement (:func:`measure_bf16_speedup`,
  the model's 7x7 80->256 convolution in fp32 and under bf16 autocast), cached per machine in
  ``precision.json`` under :func:`cache_dir`; bf16 when it is at least
  :data:`BF16_MIN_SPEEDUP` times faster;
- anything else (e.g. an AVX2-only CPU, where oneDNN emulates bf16 in software, far slower
  than fp32): fp32.

The decision never reads the CPU's model name. Under bf16 autocast the ConvLSTM's
``lstm_impl="auto"`` picks the direct convolution (the FFT path runs in fp32 and loses there);
in fp32 on a CPU it keeps the FFT (:func:`vstm.ops.select.use_fft`).

Tests replace the probe and the measurement: every function takes ``caps=`` and ``measure=``.

>>> caps = Capabilities(cpu_flags=frozenset({"avx2", "avx512f", "amx_bf16", "amx_tile"}))
>>> choose_precision("auto", "cpu", caps=caps).precision
'bf16'
>>> choose_precision("auto", "cpu", caps=Capabilities(cpu_flags=frozenset({"avx2"}))).precision
'fp32'
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import logging
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from vstm.errors import VstmError

__all__ = [
    "BF16_MIN_SPEEDUP",
    "Capabilities",
    "PrecisionChoice",
    "autocast",
    "available_memory",
    "bf16_is_native",
    "cache_dir",
    "check_memory",
    "choose_precision",
    "cpu_model",
    "machine_class",
    "machine_info",
    "measure_bf16_speedup",
    "model_bytes_per_pixel",
    "probe",
    "resolve_device",
    "warn_if_slow_bf16",
]

log = logging.getLogger("vstm.system")

Precision = Literal["fp32", "bf16"]

ISA_FLAGS = ("amx_bf16", "amx_tile", "avx512_bf16", "avx512f", "avx2")
"""The /proc/cpuinfo flags that decide the path (the rest of the line is not kept)."""

BF16_MIN_SPEEDUP = 2.0
"""On an AVX512-BF16 CPU without AMX, bf16 autocast is chosen when the measured convolution runs
at least this many times faster in bf16 than in fp32. bf16 gives up the fp32 FFT memory path,
which itself trains faster than the direct fp32 convolution; the bf16 convolution has to beat
fp32 by more than that gain, with a margin, before training gets faster (``vstm bench``
measures both paths)."""


# ------------------------------------------------------------------------- capabilities
def _cpuinfo_field(name: str) -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(name):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's name from /proc/cpuinfo (or what ``platform`` reports): for reports only."""
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def _cpu_flags_from_torch(capability: str) -> frozenset[str]:
    """ISA flags implied by torch's ``get_cpu_capability()`` where /proc/cpuinfo is missing."""
    flags = {
        "AVX2": {"avx2"},
        "AVX512": {"avx2", "avx512f"},
        "AVX512_BF16": {"avx2", "avx512f", "avx512_bf16"},
        "AMX": {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"},
    }.get(capability.upper(), set())
    return frozenset(flags)


@dataclass(frozen=True)
class Capabilities:
    """What the machine offers for the model's arithmetic.

    Attributes:
        cpu_flags: the :data:`ISA_FLAGS` the CPU reports.
        torch_cpu_capability: ``torch.backends.cpu.get_cpu_capability()`` ("AVX2", "AVX512", ...).
        onednn_bf16: oneDNN's own verdict on native bf16 (None where torch cannot say).
        cuda_device: the first CUDA device's name, or None.
        cuda_bf16: whether that device computes bf16 natively.
        torch_version: ``torch.__version__`` (part of the measurement cache's key).
    """

    cpu_flags: frozenset[str] = field(default_factory=frozenset)
    torch_cpu_capability: str = ""
    onednn_bf16: bool | None = None
    cuda_device: str | None = None
    cuda_bf16: bool = False
    torch_version: str = torch.__version__

    @property
    def amx(self) -> bool:
        """bf16 matrix units (Intel AMX: ``amx_bf16`` and ``amx_tile``)."""
        return {"amx_bf16", "amx_tile"} <= self.cpu_flags

    @property
    def avx512_bf16(self) -> bool:
        """bf16 dot-product vector instructions (AVX512-BF16)."""
        return "avx512_bf16" in self.cpu_flags

    @property
    def cpu_bf16_native(self) -> bool:
        """Whether oneDNN runs bf16 convolutions in hardware (AMX or AVX512-BF16)."""
        if self.onednn_bf16 is not None:
            return self.onednn_bf16
        return self.amx or self.avx512_bf16

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cpu_flags"] = sorted(self.cpu_flags)
        d["machine_class"] = machine_class(self)
        return d


def machine_class(caps: Capabilities, device: torch.device | str = "cpu") -> str:
    """``"cuda"``, ``"amx"``, ``"avx512_bf16"``, ``"avx2"`` or ``"other"``: whose targets apply.

    >>> machine_class(Capabilities(cpu_flags=frozenset({"avx2", "avx512f", "avx512_bf16"})))
    'avx512_bf16'
    """
    if torch.device(device).type == "cuda":
        return "cuda"
    if caps.amx:
        return "amx"
    if caps.avx512_bf16:
        return "avx512_bf16"
    if "avx2" in caps.cpu_flags:
        return "avx2"
    return "other"


@functools.cache
def probe() -> Capabilities:
    """This machine's :class:`Capabilities` (read once per process)."""
    capability = torch.backends.cpu.get_cpu_capability()
    line = _cpuinfo_field("flags")
    flags = set(line.split()) if line else set(_cpu_flags_from_torch(capability))
    onednn = None
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    if check is not None:
        with contextlib.suppress(RuntimeError):
            onednn = bool(check())
    cuda_device, cuda_bf16 = None, False
    if torch.cuda.is_available():
        cuda_device = torch.cuda.get_device_name(0)
        cuda_bf16 = bool(torch.cuda.is_bf16_supported())
    return Capabilities(
        cpu_flags=frozenset(flags & set(ISA_FLAGS)),
        torch_cpu_capability=capability,
        onednn_bf16=onednn,
        cuda_device=cuda_device,
        cuda_bf16=cuda_bf16,
    )


def bf16_is_native(device: torch.device | str = "cpu", caps: Capabilities | None = None) -> bool:
    """Whether bfloat16 matrix products run in hardware on ``device``.

    CUDA: ``torch.cuda.is_bf16_supported()``. CPU: oneDNN's own check (AVX512-BF16 or AMX);
    without it oneDNN emulates bf16 in software, tens of times slower than fp32.
    """
    device = torch.device(device)
    caps = caps or probe()
    if device.type == "cuda":
        return caps.cuda_bf16
    if device.type != "cpu":
        return True
    return caps.cpu_bf16_native


def warn_if_slow_bf16(device: torch.device | str = "cpu", caps: Capabilities | None = None) -> bool:
    """Warn, and return True, when bf16 autocast would be emulated (very slow) on ``device``."""
    caps = caps or probe()
    if bf16_is_native(device, caps):
        return False
    msg = (
        f"--precision bf16 on {torch.device(device).type} without native bf16 support "
        f"({cpu_model()}, {caps.torch_cpu_capability}: no AVX512-BF16/AMX): oneDNN emulates "
        "bf16 and training runs tens of times slower than fp32 (vstm bench measures it). "
        "Use --precision auto or fp32 here."
    )
    log.warning("%s", msg)  # one line through logging, not a Python warning with source lines
    return True


def machine_info() -> dict[str, Any]:
    """The machine a measurement ran on, for its report: CPU model, cores, ISA, capabilities,
    machine class, bf16 support, versions, threads, load and date (the CPU side: ``vstm bench``
    adds the GPU)."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    caps = probe()
    return {
        "capabilities": caps.to_dict(),
        "machine_class": machine_class(caps),
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "isa": torch.backends.cpu.get_cpu_capability(),
        "bf16_native": bf16_is_native("cpu"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "load_average": [round(x, 2) for x in load],
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


# ------------------------------------------------------------------------- measurement
def cache_dir() -> Path:
    """Where vstm caches per-machine measurements: ``$VSTM_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/vstm``, else ``~/.cache/vstm``. Delete it to measure again."""
    if os.environ.get("VSTM_CACHE_DIR"):
        return Path(os.environ["VSTM_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vstm"


def measure_bf16_speedup(batch: int = 2, size: int = 32, repeats: int = 3) -> float:
    """fp32 time / bf16-autocast time of the model's 7x7 80->256 convolution at ``size``.

    Forward only, channels_last, best of ``repeats`` after one warm-up, at a small batch and
    frame size so that this one-off measurement stays short. Stops early (returning the ratio
    seen) when bf16 is already more than 4x slower, so an emulating CPU does not pay for many
    slow runs.
    """
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 80, size, size, generator=g).contiguous(
        memory_format=torch.channels_last
    )
    conv = torch.nn.Conv2d(80, 256, 7, padding=3).to(memory_format=torch.channels_last)

    def best(precision: str, limit: float = float("inf")) -> float:
        out = float("inf")
        with torch.inference_mode(), autocast("cpu", precision):
            for i in range(repeats + 1):
                t0 = time.perf_counter()
                conv(x)
                dt = time.perf_counter() - t0
                if i > 0:
                    out = min(out, dt)
                if dt > limit:
                    return min(out, dt)
        return out

    fp32 = best("fp32")
    return fp32 / best("bf16", limit=4 * fp32)


def _cache_key(caps: Capabilities) -> str:
    return f"torch {caps.torch_version}; flags {','.join(sorted(caps.cpu_flags))}"


def cached_bf16_speedup(
    caps: Capabilities, measure: Callable[[], float] = measure_bf16_speedup
) -> float:
    """:func:`measure_bf16_speedup` once per machine (CPU flags + torch version), cached in
    ``cache_dir() / "precision.json"``."""
    path = cache_dir() / "precision.json"
    key = _cache_key(caps)
    try:
        cache = json.loads(path.read_text())
        if not isinstance(cache, dict):
            cache = {}
    except (OSError, json.JSONDecodeError):
        cache = {}
    entry = cache.get(key)
    if isinstance(entry, dict) and isinstance(entry.get("bf16_speedup"), int | float):
        return float(entry["bf16_speedup"])
    speedup = float(measure())
    cache[key] = {
        "bf16_speedup": speedup,
        "measured": time.strftime("%Y-%m-%d %H:%M:%S"),
        "what": "7x7 80->256 conv at 32x32, forward: fp32 time / bf16 autocast time",
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache, indent=2) + "\n")
        tmp.replace(path)
    except OSError as e:  # a read-only home: measure again next time
        log.warning("could not cache the bf16 measurement in %s: %s", path, e)
    return speedup


# ------------------------------------------------------------------------- the choice
@dataclass(frozen=True)
class PrecisionChoice:
    """The resolved precision of a run and why.

    Attributes:
        precision: ``"fp32"`` or ``"bf16"`` (autocast).
        requested: what was asked: ``"auto"``, ``"fp32"`` or ``"bf16"``.
        reason: one line, e.g. "AVX2 CPU without bf16 matrix units".
        machine_class: see :func:`machine_class`.
        bf16_speedup: the measured conv speed-up, where a measurement decided.
    """

    precision: Precision
    requested: str
    reason: str
    machine_class: str
    bf16_speedup: float | None = None

    def memory_conv(self, lstm_impl: str | None = "auto", chosen: str | None = None) -> str | None:
        """The ConvLSTM's gate convolution on this path: ``chosen`` (``"fft"`` or
        ``"direct"``, what :func:`vstm.ops.select.use_fft` chose in a training step, which
        is the one rule), else an explicit ``lstm_impl``; None for ``"auto"`` before a step
        has run, or for a model without a ConvLSTM (``lstm_impl`` None)."""
        if lstm_impl is None:
            return None
        kind = chosen or (lstm_impl if lstm_impl in ("fft", "direct") else None)
        if kind is None:
            return None
        if kind == "fft":
            return "FFT memory"
        return (
            "cuDNN memory convolution"
            if self.machine_class == "cuda"
            else "direct memory convolution"
        )

    def describe(self, lstm_impl: str | None = "auto", chosen: str | None = None) -> str:
        """A run's first log line, e.g. "path: fp32 (AVX2 CPU without ...)", with the
        memory's convolution once known (explicit, or ``chosen`` by a step)."""
        parts = ["bf16 autocast" if self.precision == "bf16" else "fp32"]
        memory = self.memory_conv(lstm_impl, chosen)
        if memory:
            parts.append(memory)
        return f"path: {', '.join(parts)} ({self.reason})"

    def to_dict(
        self, lstm_impl: str | None = "auto", kernels: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """What ``config.json`` records under ``"path"``; ``kernels``: what
        :func:`vstm.ops.select.chosen_kernels` says a step chose (recorded as it is)."""
        chosen = (kernels or {}).get("lstm")
        record = {**asdict(self), "memory_conv": self.memory_conv(lstm_impl, chosen)}
        if kernels:
            record["kernels"] = dict(kernels)
        return record

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PrecisionChoice:
        keys = ("precision", "requested", "reason", "machine_class", "bf16_speedup")
        return cls(**{k: d[k] for k in keys if k in d})


def choose_precision(
    requested: str,
    device: torch.device | str = "cpu",
    *,
    caps: Capabilities | None = None,
    measure: Callable[[], float] | None = None,
) -> PrecisionChoice:
    """Resolve ``requested`` (``"auto"``, ``"fp32"`` or ``"bf16"``) for ``device``.

    ``"fp32"`` and ``"bf16"`` are kept as asked (bf16 on a CPU that emulates it warns).
    ``"auto"`` follows the rule of the module docstring. ``measure`` replaces the cached
    measurement on an AVX512-BF16 CPU (tests pass a constant).
    """
    caps = caps or probe()
    device = torch.device(device)
    cls = machine_class(caps, device)
    if requested in ("fp32", "bf16"):
        if requested == "bf16":
            warn_if_slow_bf16(device, caps)
        return PrecisionChoice(requested, requested, f"--precision {requested}", cls)
    if requested != "auto":
        raise VstmError(f"--precision {requested!r}: expected auto, fp32 or bf16")
    if device.type == "cuda":
        name = caps.cuda_device or "CUDA device"
        if caps.cuda_bf16:
            return PrecisionChoice("bf16", "auto", f"{name} computes bf16", cls)
        return PrecisionChoice("fp32", "auto", f"{name} without bf16 support", cls)
    if device.type != "cpu":
        return PrecisionChoice("fp32", "auto", f"{device.type} device", cls)
    if cls == "amx":
        return PrecisionChoice("bf16", "auto", "CPU with AMX bf16 matrix units", cls)
    if cls == "avx512_bf16":
        speedup = float(measure()) if measure is not None else cached_bf16_speedup(caps)
        bf16 = speedup >= BF16_MIN_SPEEDUP
        verdict = "at least" if bf16 else "under"
        reason = (
            f"AVX512-BF16 CPU without AMX: bf16 convolution measured {speedup:.2f}x fp32, "
            f"{verdict} {BF16_MIN_SPEEDUP:g}x"
        )
        return PrecisionChoice("bf16" if bf16 else "fp32", "auto", reason, cls, speedup)
    what = "AVX2 CPU" if cls == "avx2" else "CPU"
    return PrecisionChoice("fp32", "auto", f"{what} without bf16 matrix units", cls)


def autocast(device: torch.device | str, precision: str, cache: bool = True):
    """The autocast context of ``precision`` on ``device`` (a null context for fp32).
    ``cache=False`` turns off autocast's cast-weight cache, as CUDA-graph capture needs."""
    if precision == "bf16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, cache_enabled=cache)
    return contextlib.nullcontext()


# ------------------------------------------------------------------------- memory
def available_memory() -> int | None:
    """Bytes of memory this machine can still give (``MemAvailable`` of /proc/meminfo, capped
    by a cgroup limit where one is set); None where neither can be read."""
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < (1 << 60):
            avail = int(text) if avail is None else min(avail, int(text))
        break
    return avail


def model_bytes_per_pixel(hidden_channels: int | None, training: bool) -> int:
    """Memory per frame pixel of a ConvLSTM model: with ``training``, what a frame of a clip
    keeps for backward (calibrated on the paper model's measured peak: 1,453 MiB for batch
    16 x 10 frames of 64x64, docs/results/bench.md, i.e. ~2.3 KB per pixel with 64 memory
    channels); streaming, the working set of one step (a few dozen maps of the memory)."""
    hc = 64 if hidden_channels is None else int(hidden_channels)
    return (36 * hc + 64) if training else (12 * hc + 64)


def _gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB" if n >= 2**30 else f"{n / 2**20:,.0f} MiB"


def check_memory(need: float, what: str, fix: str, available: int | None = None) -> None:
    """Refuse, in one line, a request whose memory this machine cannot give: ``what`` needs
    about ``need`` bytes; ``fix`` names the flag to change.

    >>> try:
    ...     check_memory(2**40, "--size 99999", "use a smaller --size", available=2**30)
    ... except VstmError as e:
    ...     print(str(e)[:55])
    --size 99999 needs about 1,024.0 GiB, more than the 1.0
    """
    available = available_memory() if available is None else available
    if available is not None and need > available:
        raise VstmError(
            f"{what} needs about {_gib(need)}, more than the {_gib(available)} this machine "
            f"has free; {fix}"
        )


# ------------------------------------------------------------------------- devices
def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> cuda (this rank's GPU) if available, else cpu; check that others exist."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise VstmError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from e
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise VstmError(
                f"device {name!r} requested but CUDA is not available; use --device cpu"
            )
        index = device.index if device.index is not None else local_rank
        if index >= torch.cuda.device_count():
            raise VstmError(
                f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) present"
            )
        return torch.device("cuda", index)
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise VstmError("device 'mps' requested but not available; use --device cpu")
    if device.type not in ("cpu", "cuda", "mps"):
        raise VstmError(f"device {name!r} is not supported; use auto, cpu, cuda or cuda:N")
    return device
