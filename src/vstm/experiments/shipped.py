"""The package's shipped weights as run folders: ``vstm reproduce table1 --shipped`` rescores the
shipped Table 1 (``docs/results/table1_shipped.md``) from a fresh install, with no training
run on the machine.

Each shipped Moving MNIST model becomes ``OUT/runs/MODEL/``: ``best.safetensors`` (the shipped
file), ``best.json`` and ``last.json`` (its header, with the compute its manifest entry
records: the checkpoint's step, the run's last step, training seconds and machine; a
continued run keeps its lineage), and ``metrics.jsonl`` (the learning curve shipped beside
it). ``--score-only`` then scores them as any run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from vstm.errors import VstmError
from vstm.io import atomic_write_text
from vstm.models import pretrained
from vstm.models.checkpoint import read_checkpoint
from vstm.train.lineage import lineage_of

__all__ = ["SHIPPED_MARK", "runs_from_shipped"]

SHIPPED_MARK = "shipped.json"
"""A run folder made from shipped weights names them here (key and SHA-256)."""


def runs_from_shipped(out: Path, models: tuple[str, ...], dataset: str = "moving-mnist") -> None:
    """Write ``out/runs/MODEL/`` for each of ``models`` from the weights the package ships
    for ``dataset`` (verified against the manifest). A folder already made from the same file
    is kept (its cached test scores stay valid), one made from older shipped weights is made
    anew; a folder that holds anything else is an error, so that no training run is
    overwritten."""
    for model in models:
        entry = pretrained.find(model, dataset)
        src = pretrained.verified_path(entry)
        dest = out / "runs" / model
        mark = dest / SHIPPED_MARK
        if mark.is_file():  # made from shipped weights: kept if still those, else remade
            if json.loads(mark.read_text()).get("sha256") == entry.sha256:
                continue
            shutil.rmtree(dest)
        if dest.exists() and any(dest.iterdir()):
            raise VstmError(
                f"--shipped: {dest} holds another run; pass another --out (the shipped "
                "weights are written into OUT/runs/)"
            )
        dest.mkdir(parents=True, exist_ok=True)
        header, _ = read_checkpoint(src)
        shutil.copyfile(src, dest / "best.safetensors")
        curve = src.with_suffix(".metrics.jsonl")
        text = curve.read_text() if curve.is_file() else ""
        atomic_write_text(dest / "metrics.jsonl", text)
        record = lineage_of(pretrained.PREFIX + entry.key, header)  # the compute behind it
        compute = entry.compute
        for name, step in (("best", compute.get("checkpoint_step")), ("last", compute["steps"])):
            atomic_write_text(dest / f"{name}.json", _header_json(header, record, step))
        atomic_write_text(mark, json.dumps({"key": entry.key, "sha256": entry.sha256}) + "\n")


def _header_json(header: dict[str, Any], record: dict[str, Any], step: int | None) -> str:
    """The shipped ``header`` with the trainer state of its run at ``step`` (None: the step
    it was saved at): ``record``, its own lineage record, gives the seconds and machines its
    manifest entry records and the lineage of a continued run as its header keeps it."""
    trainer = {
        **(header.get("trainer") or {}),
        "step": int(step if step is not None else record["step"]),
        "train_seconds": record["train_seconds"],
        "machines": record["machines"],
        "init": record["init"],
    }
    return json.dumps({**header, "trainer": trainer}, indent=2) + "\n"
