"""Named model variants: name -> frozen config dataclass -> module."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from typing import Any

from vstm.errors import VstmError
from vstm.models.base import VideoPredictor
from vstm.typecheck import check_value

__all__ = [
    "MODELS",
    "PaperRow",
    "build_model",
    "config_from_dict",
    "model_facts",
    "model_names",
    "register",
]


@dataclasses.dataclass(frozen=True)
class PaperRow:
    """A model's row of the paper's Table 1: its name there, the parameter count and the
    per-pixel test error it prints."""

    label: str
    parameters: int
    test_error: float
    count_note: str = ""
    """Why vstm's count differs from the paper's, where it does."""


@dataclasses.dataclass(frozen=True)
class _Entry:
    """What a registered model is, in one place (other layers ask here, never by name)."""

    config_cls: type
    model_cls: Callable[[Any], VideoPredictor]
    summary: str
    tasks: tuple[str, ...] = ("next-frame",)
    tiny: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Overrides of a small debug version (``--tiny``)."""
    state_names: tuple[str, ...] = ()
    """The streaming state as flat tensors, in order (ONNX inputs/outputs); empty: a state
    that is not plain tensors (no ONNX step export)."""
    paper: PaperRow | None = None
    label: str = ""
    """The name reports print (e.g. "SegNet-flow"); empty: the paper's label, else the name."""
    frame_size: tuple[str, str] | None = None
    """The config fields (height, width) that fix the one frame size the model takes (its
    parameters depend on it); None: any size."""
    context_field: str | None = None
    """The config field that must equal the number of context frames (stacked as channels)."""
    segmenter: str | None = None
    """How the model segments: ``"per-frame"`` (``model(frames)`` on (N, C, H, W) frames) or
    ``"propagated"`` (a sequence model whose labels follow its flow: ``model(clip)`` gives
    ``seg``, ``base`` and ``flow``); None: not a segmenter."""
    starts_from: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    """Other registered models whose weights can start this one (``vstm train --init``), each
    with the parameter prefixes that stay at this model's initial values (their meaning
    differs here): e.g. the paper's flow model starts AE-ConvLSTM-pixelflow, whose D is a
    zero residual rather than the frame's decoder."""

    def default(self, field: str) -> Any:
        """The default of a field of this model's config, or None where it has no such field.

        >>> [model_facts(name).default("lstm_impl") for name in ("ae-convlstm", "ae-conv")]
        ['auto', None]
        """
        for f in dataclasses.fields(self.config_cls):
            if f.name == field:
                return f.default
        return None

    def options_for(self, given: dict[str, Any], **settings: Any) -> dict[str, Any]:
        """The config overrides a model is built with: ``given`` (the user's own), then each
        of ``settings`` that this model's config has a field for and ``given`` does not set
        (a training run's ``w_h``, ``delta`` or ``in_channels``; ``size`` fills the fields
        of :attr:`frame_size`). None values are left out.

        >>> entry = model_facts("ae-conv")
        >>> sorted(entry.options_for({"in_channels": 3}, in_channels=1, w_h=0.01).items())
        [('in_channels', 3)]
        """
        fields = {f.name for f in dataclasses.fields(self.config_cls)}
        options = dict(given)
        size = settings.pop("size", None)
        if self.frame_size is not None and size is not None:
            settings.update(dict.fromkeys(self.frame_size, size))
        for name, value in settings.items():
            if name in fields and value is not None:
                options.setdefault(name, value)
        return options


MODELS: dict[str, _Entry] = {}


def register(
    name: str,
    config_cls: type,
    summary: str = "",
    tasks: tuple[str, ...] = ("next-frame",),
    *,
    tiny: dict[str, Any] | None = None,
    state_names: tuple[str, ...] = (),
    paper: PaperRow | None = None,
    label: str = "",
    frame_size: tuple[str, str] | None = None,
    context_field: str | None = None,
    segmenter: str | None = None,
    starts_from: dict[str, tuple[str, ...]] | None = None,
):
    """Class decorator: ``@register("ae-conv", AEConvConfig, "...")``.

    ``tasks``: the training tasks the model serves (:class:`vstm.train.TrainConfig`'s
    ``task``): ``"next-frame"`` (a :class:`VideoPredictor`), ``"segmentation"``, or both.
    ``tiny``: the overrides of its debug preset; ``state_names``: its streaming state as flat
    tensors (ONNX export); ``paper``: its row of the paper's Table 1; ``label``,
    ``frame_size``, ``context_field``, ``segmenter``, ``starts_from``: see :class:`_Entry`.
    """

    def deco(model_cls):
        MODELS[name] = _Entry(
            config_cls, model_cls, summary, tuple(tasks), dict(tiny or {}), state_names, paper,
            label or (paper.label if paper else name), frame_size, context_field, segmenter,
            dict(starts_from or {}),
        )  # fmt: skip
        return model_cls

    return deco


def model_facts(name: str) -> _Entry:
    """Everything the registry knows about model ``name`` (a one-line error if unknown)."""
    return _entry(name)


def facts_of(model: Any) -> _Entry | None:
    """The registry's facts about a built model (by its ``name``; a DDP wrapper's inner
    model), or None for a module the registry does not know."""
    name = getattr(getattr(model, "module", model), "name", None)
    return MODELS.get(name) if isinstance(name, str) else None


def model_names(task: str | None = None) -> list[str]:
    """The registered names, or those that serve ``task`` (e.g. ``"segmentation"``).

    >>> model_names("segmentation")
    ['segnet', 'segnet-flow']
    """
    return sorted(n for n, e in MODELS.items() if task is None or task in e.tasks)


def _entry(name: str) -> _Entry:
    if name not in MODELS:
        raise VstmError(f"unknown model {name!r}; choose one of: {', '.join(model_names())}")
    return MODELS[name]


def config_from_dict(name: str, values: dict[str, Any]):
    """Build the config of model ``name`` from a dict, rejecting unknown keys and wrong types."""
    entry = _entry(name)
    fields = {f.name: f for f in dataclasses.fields(entry.config_cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise VstmError(
            f"{name} config: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(entry.config_cls)
    checked = {k: check_value(f"{name} config", k, hints[k], v) for k, v in values.items()}
    return entry.config_cls(**checked)


def build_model(
    name: str = "ae-convlstm-flow", pretrained: str | None = None, **overrides: Any
) -> VideoPredictor:
    """Build a registered model, the paper's configuration unless ``overrides`` say otherwise.

    Args:
        name: a registry name (``vstm info`` lists them).
        pretrained: a data set name, e.g. ``"moving-mnist"``: the model with the weights this
            project trained on it and ships in the package (``vstm info --pretrained``), its
            file checked against the manifest's SHA-256; the architecture is the shipped
            one, so ``overrides`` are not allowed with it.

    >>> model = build_model("ae-convlstm-flow", in_channels=3)
    >>> model.config.in_channels, sum(p.numel() for p in model.parameters())
    (3, 1038209)
    """
    entry = _entry(name)
    if pretrained is not None:
        if overrides:
            raise VstmError(
                f"build_model({name!r}, pretrained={pretrained!r}): the shipped weights fix "
                f"the architecture; leave out {', '.join(sorted(overrides))}"
            )
        from vstm.models.pretrained import load_pretrained

        return load_pretrained(name, pretrained)[0]
    return entry.model_cls(config_from_dict(name, overrides))
