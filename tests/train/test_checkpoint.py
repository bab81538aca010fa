import pickle

import pytest
import torch

from vstm import VstmError, build_model, load_checkpoint
from vstm.train.checkpoint import restore_training, save_checkpoint


def small():
    return build_model("ae-convlstm-flow", hidden_channels=8, flow_kernel=5)


def test_round_trip_rebuilds_model_from_file_alone(tmp_path):
    torch.manual_seed(0)
    m = small()
    with torch.no_grad():
        m.flow.conv3.weight.normal_()
    save_checkpoint(tmp_path / "a.safetensors", m, train_config={"data": "moving-mnist"})
    m2, header = load_checkpoint(tmp_path / "a.safetensors")
    assert header["model"] == "ae-convlstm-flow" and m2.config == m.config
    x = torch.rand(1, 3, 1, 16, 16)
    assert torch.equal(m(x).pred, m2(x).pred)
    assert (tmp_path / "a.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.safetensors"]


def test_optimizer_and_rng_state_restored(tmp_path):
    torch.manual_seed(0)
    m = small()
    opt = torch.optim.RMSprop(m.parameters(), lr=1e-3)
    x = torch.rand(2, 3, 1, 16, 16)
    m(x).pred.square().mean().backward()
    opt.step()
    save_checkpoint(tmp_path / "l.safetensors", m, optimizer=opt, trainer={"step": 1})
    expected_rand = torch.rand(3)
    m2 = small()
    opt2 = torch.optim.RMSprop(m2.parameters(), lr=1e-3)
    header = restore_training(tmp_path / "l.safetensors", m2, opt2)
    assert header["trainer"]["step"] == 1
    assert torch.equal(torch.rand(3), expected_rand)
    for p, p2 in zip(m.parameters(), m2.parameters(), strict=True):
        assert torch.equal(p, p2)
        assert torch.equal(opt.state[p]["square_avg"], opt2.state[p2]["square_avg"])
    assert opt2.state[next(m2.parameters())]["square_avg"].abs().max() > 0


def test_bad_checkpoints(tmp_path):
    m = small()
    good = save_checkpoint(tmp_path / "g.safetensors", m)
    trunc = tmp_path / "t.safetensors"
    trunc.write_bytes(good.read_bytes()[:200])
    with pytest.raises(VstmError, match="truncated"):
        load_checkpoint(trunc)
    pkl = tmp_path / "p.pt"
    pkl.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(VstmError, match="never unpickles"):
        load_checkpoint(pkl)
    zipped = tmp_path / "z.pt"
    torch.save(m.state_dict(), zipped)
    with pytest.raises(VstmError, match="never unpickles"):
        load_checkpoint(zipped)
    with pytest.raises(VstmError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.safetensors")
    with pytest.raises(VstmError, match="holds a 'ae-convlstm-flow' model, not 'ae-conv'"):
        load_checkpoint(good, expect_model="ae-conv")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(VstmError, match="not written by vstm"):
        load_checkpoint(tmp_path / "foreign.safetensors")
