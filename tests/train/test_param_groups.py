"""Θ's own learning rate: the optimiser groups and what a training step does with them."""

import torch

from vstm.models import build_model
from vstm.train.config import make_config, tiny_overrides
from vstm.train.loop import Trainer, param_groups


def test_one_group_at_scale_one_and_theta_apart_otherwise():
    model = build_model("ae-convlstm-flow", hidden_channels=8, flow_kernel=5)
    (only,) = param_groups(model, 1.0)
    assert len(only["params"]) == len(list(model.parameters()))
    rest, theta = param_groups(model, 0.1)
    assert theta["lr_scale"] == 0.1 and rest["lr_scale"] == 1.0
    assert {id(p) for p in theta["params"]} == {id(p) for p in model.flow.parameters()}
    assert len(rest["params"]) + len(theta["params"]) == len(list(model.parameters()))
    # a model without Θ keeps one group whatever the scale
    assert len(param_groups(build_model("ae-conv"), 0.1)) == 1


def test_training_step_uses_the_scaled_rate_for_theta(tmp_path):
    cfg = make_config(
        tiny_overrides(),
        {"out": str(tmp_path / "run"), "steps": 1, "optimizer": "adam", "lr": 1e-3},
        {"flow_lr_scale": 0.25, "save_every": 1},
    )
    trainer = Trainer(cfg)
    torch.manual_seed(cfg.seed)
    init = build_model(cfg.model, **cfg.model_options)
    trainer.run()
    rates = sorted(g["lr"] for g in trainer.optimizer.param_groups)
    assert rates == [0.25e-3, 1e-3]

    # Adam's first step moves each weight with a gradient by about its group's rate; Θ's last
    # layer (zero at the start, so the only part of Θ with a gradient at step 1) and E's
    def largest_move(name):
        now = dict(trainer.model.named_parameters())[name].detach()
        return (now - dict(init.named_parameters())[name]).abs().max().item()

    assert 0.2e-3 <= largest_move("flow.conv3.weight") <= 0.3e-3
    assert 0.8e-3 <= largest_move("encoder.conv.weight") <= 1.2e-3


def test_groups_carry_their_rates_and_find_theta_inside_segnet_flow():
    model = build_model("segnet-flow")
    rest, theta = param_groups(model, 0.5, lr=2e-3)
    assert (rest["lr"], theta["lr"]) == (2e-3, 1e-3)
    assert {id(p) for p in theta["params"]} == {id(p) for p in model.ae.flow.parameters()}
