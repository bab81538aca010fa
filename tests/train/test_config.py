import pytest

from vstm import VstmError
from vstm.train import TrainConfig, load_config_file, make_config


def test_defaults_are_the_paper_recipe():
    cfg = TrainConfig()
    assert (cfg.optimizer, cfg.lr, cfg.lr_decay, cfg.decay_every) == ("rmsprop", 1e-4, 0.9, 5)
    assert cfg.w_h == 1e-2 and cfg.delta == 1e-3
    assert cfg.resolved_loss() == "bce"
    assert make_config({"data": "clip.mp4"}).resolved_loss() == "mse"


def test_layers_merge_left_to_right(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("batch_size = 4\nlr = 0.001\n[model_options]\nhidden_channels = 8\n")
    cfg = make_config(load_config_file(f), {"lr": 0.01})
    assert cfg.batch_size == 4 and cfg.lr == 0.01 and cfg.model_options == {"hidden_channels": 8}


def test_yaml_config(tmp_path):
    pytest.importorskip("yaml")
    f = tmp_path / "c.yaml"
    f.write_text("epochs: 3\nprecision: bf16\n")
    assert make_config(load_config_file(f)).epochs == 3


def test_bad_configs_raise_one_line_errors(tmp_path):
    with pytest.raises(VstmError, match="unknown key 'batchsize'"):
        make_config({"batchsize": 3})
    with pytest.raises(VstmError, match="batch_size must be int, got str"):
        make_config({"batch_size": "3"})
    with pytest.raises(VstmError, match="precision must be one of"):
        make_config({"precision": "fp8"})
    bad = tmp_path / "bad.toml"
    bad.write_text("lr = = 3")
    with pytest.raises(VstmError, match="could not be parsed"):
        load_config_file(bad)
    with pytest.raises(VstmError, match="does not exist"):
        load_config_file(tmp_path / "missing.toml")


def test_run_settings_reach_the_models_that_have_them():
    """w_H, δ, channels and size pass to a model only where its config has the field (the
    registry decides, not the trainer); the user's own model options win."""
    from vstm.train.clips import build_model_for

    flow = build_model_for(make_config({"w_h": 0.5, "delta": 0.25, "channels": 3}))
    assert (flow.config.w_h, flow.config.delta, flow.config.in_channels) == (0.5, 0.25, 3)
    plain = build_model_for(make_config({"model": "ae-conv", "w_h": 0.5, "channels": 3}))
    assert plain.config.in_channels == 3 and not hasattr(plain.config, "w_h")
    fc = build_model_for(
        make_config(
            {
                "model": "ae-fclstm",
                "size": 16,
                "model_options": {"hidden_units": 8, "enc_channels": 2, "dec_channels": 2},
            }
        )
    )
    assert (fc.config.frame_height, fc.config.frame_width) == (16, 16)
    own = build_model_for(make_config({"w_h": 0.5, "model_options": {"w_h": 0.125}}))
    assert own.config.w_h == 0.125
