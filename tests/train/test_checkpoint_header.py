"""Regression (found by the segmentation runs): a safetensors file whose 8-byte header length
starts with the byte 0x80 was refused as a pickle by vstm.train.checkpoint.read_checkpoint."""

import json

import torch
from safetensors.torch import save_file

from vstm.train.checkpoint import FORMAT, read_checkpoint


def test_header_length_starting_with_0x80_is_not_a_pickle(tmp_path):
    path = tmp_path / "x.safetensors"
    for pad in range(300):  # grow the metadata until the header length is 0x..80
        meta = {"vstm": json.dumps({"format": FORMAT, "pad": "x" * pad})}
        save_file({"model.w": torch.zeros(2)}, str(path), metadata=meta)
        if path.read_bytes()[0] == 0x80:
            break
    assert path.read_bytes()[0] == 0x80
    header, tensors = read_checkpoint(path)
    assert header["format"] == FORMAT and torch.equal(tensors["model.w"], torch.zeros(2))
