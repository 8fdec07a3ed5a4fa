#!/usr/bin/env python3
"""U-Net parity, PyTorch side.

    unet_parity.py WEIGHTS OUT [REFERENCE_DIR]

Loads WEIGHTS (an ema.safetensors written by `ddpm_mnist train`) into the
project's PyTorch mirror (unet_mirror.py) with load_state_dict(strict=True),
runs it on fixed inputs (x, t, y) and an MSE loss against a fixed target, and
writes the inputs, the output, the loss and every parameter gradient to OUT for
the C++ side (test_unet_parity) to compare. With REFERENCE_DIR (holding
unet_ref.py), the same weights also load strictly into the reference model and
its outputs and gradients must equal the mirror's.
"""
import importlib.util
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402
import unet_mirror  # noqa: E402


def build(module, weights, config):
    model = module.UNet(in_ch=config["in_channels"], base=config["base"], mults=tuple(config["mults"]),
                        groups=config["groups"], num_classes=config["num_classes"])
    model.load_state_dict(weights, strict=True)
    return model


def run(model, x, t, y, target):
    model.zero_grad()
    out = model(x, t, y)
    loss = F.mse_loss(out, target)
    loss.backward()
    return out.detach(), loss.detach(), {k: p.grad.detach().clone() for k, p in model.named_parameters()}


def main():
    weights_path, out_path = sys.argv[1], sys.argv[2]
    reference_dir = sys.argv[3] if len(sys.argv) > 3 else None
    torch.set_num_threads(1)
    weights, meta = read_safetensors(weights_path)
    config = json.loads(meta["model"])
    model = build(unet_mirror, weights, config)

    g = torch.Generator().manual_seed(7)
    batch = 4
    x = torch.randn(batch, config["in_channels"], 28, 28, generator=g)
    t = torch.tensor([0, 17, 500, 999], dtype=torch.int64)
    y = torch.tensor([3, 10, 0, 7], dtype=torch.int64)  # 10 = the "no label" class
    target = torch.randn(batch, config["in_channels"], 28, 28, generator=g)
    out, loss, grads = run(model, x, t, y, target)

    if reference_dir:
        spec = importlib.util.spec_from_file_location("unet_ref", os.path.join(reference_dir, "unet_ref.py"))
        ref_module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(ref_module)
        ref = build(ref_module, weights, config)
        ref_out, ref_loss, ref_grads = run(ref, x, t, y, target)
        assert list(ref.state_dict().keys()) == list(model.state_dict().keys()), "parameter names differ"
        assert torch.allclose(ref_out, out, rtol=1e-5, atol=1e-6), "mirror and reference outputs differ"
        for k in grads:
            assert torch.allclose(ref_grads[k], grads[k], rtol=1e-5, atol=1e-7), f"gradient of {k} differs"
        print(f"reference model {reference_dir}/unet_ref.py: same names, outputs and gradients as the mirror")

    tensors = [("x", x), ("t", t), ("y", y), ("target", target), ("out", out), ("loss", loss.reshape(1))]
    tensors += [("grad." + k, v) for k, v in grads.items()]
    write_safetensors(out_path, tensors, {"parameters": str(sum(p.numel() for p in model.parameters()))})
    print(f"loaded {weights_path} strictly into the mirror ({len(weights)} tensors); loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
