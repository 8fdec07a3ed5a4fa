"""PyTorch reference fixtures for the layers of issue #17 (tests/parity/test_parity_layers.cpp).

One family, "layers": each case is one module (BatchNorm1d/2d, InstanceNorm2d, RMSNorm,
Conv1d, MaxPool2d, AvgPool2d, Upsample, a Sequential of them, a ModuleDict). Its tensors:

  param.<name>           the module's parameters, set before the first step
  x<k>, g<k>, out<k>     training step k = 0..steps-1: input, upstream gradient, output
  dx<k>, grad<k>.<name>  the gradient of the input and of each parameter in step k
                         (the gradients are zeroed between steps)
  state.<name>           each buffer after the training steps (running_mean, running_var,
                         num_batches_tracked as float32)
  xe, ge, oute, dxe, grade.<name>   one step in eval mode after them (when "eval" is 1)

and its parameters: "module" (the class name), the constructor's options, "steps", "eval",
and "keys", the state_dict's keys in order, comma separated.

torch 1.13 has no nn.RMSNorm: RMSNormRef below is torch 2.4's definition,
  y = x * rsqrt(mean(x^2 over normalized_shape) + eps) * weight,  eps=None -> finfo(float32).eps
"""
import torch

from make_fixtures import Family


class RMSNormRef(torch.nn.Module):
    def __init__(self, normalized_shape, eps=None, elementwise_affine=True):
        super().__init__()
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.weight = torch.nn.Parameter(torch.ones(self.normalized_shape)) if elementwise_affine else None

    def forward(self, x):
        eps = torch.finfo(x.dtype).eps if self.eps is None else self.eps
        dims = tuple(range(-len(self.normalized_shape), 0))
        y = x * torch.rsqrt(x.pow(2).mean(dims, keepdim=True) + eps)
        return y * self.weight if self.weight is not None else y


class DictNet(torch.nn.Module):
    """A ModuleDict and the forward test_parity_layers.cpp mirrors: norm(rms(conv(x))).
    (Batch norm last: before the RMS norm its weight and the conv's bias would have zero gradients.)"""

    def __init__(self):
        super().__init__()
        self.layers = torch.nn.ModuleDict()
        self.layers["conv"] = torch.nn.Conv1d(3, 4, 3, padding=1)
        self.layers["norm"] = torch.nn.BatchNorm1d(4)
        self.layers["rms"] = RMSNormRef((4, 6), eps=1e-6)

    def forward(self, x):
        return self.layers["norm"](self.layers["rms"](self.layers["conv"](x)))


def step(mod, x, tensors, suffix, grad_prefix):
    x = x.clone().requires_grad_()
    out = mod(x)
    g = torch.randn(out.shape)
    out.backward(g)
    tensors.update({f"x{suffix}": x.detach(), f"g{suffix}": g, f"out{suffix}": out.detach(),
                    f"dx{suffix}": x.grad})
    for name, p in mod.named_parameters():
        tensors[f"{grad_prefix}.{name}"] = p.grad.clone()
    mod.zero_grad(set_to_none=True)


def module_case(fam, name, params, mod, train_inputs, eval_input=None, random_params=True):
    if random_params:  # norms start at weight 1, bias 0: move them so that their gradients matter
        with torch.no_grad():
            for p in mod.parameters():
                p.copy_(torch.randn(p.shape) * 0.5 + (1.0 if p.dim() >= 1 else 0.0))
    tensors = {f"param.{n}": p.detach().clone() for n, p in mod.named_parameters()}
    mod.train()
    for k, x in enumerate(train_inputs):
        step(mod, x, tensors, str(k), f"grad{k}")
    for n, b in mod.named_buffers():
        tensors[f"state.{n}"] = b.detach().clone().float()
    if eval_input is not None:
        mod.eval()
        step(mod, eval_input, tensors, "e", "grade")
    params = dict(params)
    params.update({"steps": len(train_inputs), "eval": eval_input is not None,
                   "keys": ",".join(mod.state_dict().keys())})
    fam.case(name, params, tensors)


def shifted(*shape):
    """N(0, 1) * 2 + 1: batches whose mean and variance are far from the initial running ones."""
    return torch.randn(*shape) * 2.0 + 1.0


def layers_family():
    fam = Family("layers")

    # BatchNorm1d / BatchNorm2d: three training steps, the running statistics, one eval step.
    bn = [("bn2d", "BatchNorm2d", (4, 3, 5, 6), dict(eps=1e-5, momentum=0.1, affine=True, track_running_stats=True)),
          ("bn2d_noaffine", "BatchNorm2d", (3, 4, 3, 5), dict(eps=1e-3, momentum=0.3, affine=False,
                                                              track_running_stats=True)),
          ("bn2d_cumulative", "BatchNorm2d", (2, 3, 4, 4), dict(eps=1e-5, momentum=None, affine=True,
                                                                track_running_stats=True)),
          ("bn2d_untracked", "BatchNorm2d", (3, 2, 4, 5), dict(eps=1e-5, momentum=0.1, affine=True,
                                                               track_running_stats=False)),
          ("bn1d_2d", "BatchNorm1d", (8, 5), dict(eps=1e-5, momentum=0.1, affine=True, track_running_stats=True)),
          ("bn1d_3d", "BatchNorm1d", (4, 5, 7), dict(eps=1e-5, momentum=0.2, affine=True, track_running_stats=True))]
    for name, cls, shape, opts in bn:
        mod = getattr(torch.nn, cls)(shape[1], **opts)
        params = {"module": cls, "num_features": shape[1], "eps": opts["eps"],
                  "momentum": "None" if opts["momentum"] is None else opts["momentum"],
                  "affine": opts["affine"], "track_running_stats": opts["track_running_stats"]}
        module_case(fam, name, params, mod, [shifted(*shape) for _ in range(3)], shifted(*shape))

    # InstanceNorm2d: PyTorch's defaults, affine, running statistics, an unbatched input.
    inorm = [("in2d", (2, 3, 5, 6), dict(affine=False, track_running_stats=False)),
             ("in2d_affine", (3, 4, 4, 5), dict(affine=True, track_running_stats=False)),
             ("in2d_tracked", (2, 3, 4, 4), dict(affine=True, track_running_stats=True, momentum=0.2)),
             ("in2d_unbatched", (3, 5, 6), dict(affine=True, track_running_stats=False))]
    for name, shape, opts in inorm:
        c = shape[-3]
        mod = torch.nn.InstanceNorm2d(c, **opts)
        params = {"module": "InstanceNorm2d", "num_features": c, "eps": 1e-5, "momentum": opts.get("momentum", 0.1),
                  "affine": opts["affine"], "track_running_stats": opts["track_running_stats"]}
        module_case(fam, name, params, mod, [shifted(*shape) for _ in range(2)], shifted(*shape))

    # RMSNorm (torch 2.4's formula).
    rms = [("rms_default", (8,), None, True, (4, 8)),
           ("rms_2d", (3, 4), 1e-5, True, (2, 5, 3, 4)),
           ("rms_noaffine", (6,), 1e-3, False, (3, 6))]
    for name, ns, eps, affine, xshape in rms:
        mod = RMSNormRef(ns, eps, affine)
        params = {"module": "RMSNorm", "normalized_shape": ns, "eps": "None" if eps is None else eps,
                  "elementwise_affine": affine}
        module_case(fam, name, params, mod, [torch.randn(*xshape)], torch.randn(*xshape))

    # Conv1d over [N, C, L]: weight [out, in/groups, k].
    conv = [(4, 6, 3, 1, 1, 1, 1, True, 9), (4, 6, 5, 2, 2, 2, 2, False, 13), (3, 5, 1, 1, 0, 1, 1, True, 4),
            (6, 6, 3, 2, 0, 1, 3, True, 10), (2, 4, 4, 3, 2, 2, 1, True, 11)]
    for j, (cin, cout, k, s, p, d, groups, bias, length) in enumerate(conv):
        mod = torch.nn.Conv1d(cin, cout, k, stride=s, padding=p, dilation=d, groups=groups, bias=bias)
        params = {"module": "Conv1d", "in_channels": cin, "out_channels": cout, "kernel_size": k, "stride": s,
                  "padding": p, "dilation": d, "groups": groups, "bias": bias}
        module_case(fam, f"conv1d_{j}", params, mod, [torch.randn(2, cin, length)], random_params=False)

    # Pooling and upsampling modules (stride 0 stands for PyTorch's stride=None).
    pools = [("maxpool_2", "MaxPool2d", (2, 2), (0, 0), (0, 0)), ("maxpool_3s2p1", "MaxPool2d", (3, 3), (2, 2), (1, 1)),
             ("avgpool_2", "AvgPool2d", (2, 2), (0, 0), (0, 0)),
             ("avgpool_32", "AvgPool2d", (3, 2), (1, 2), (1, 0))]
    for name, cls, k, s, p in pools:
        mod = getattr(torch.nn, cls)(k, stride=None if s == (0, 0) else s, padding=p)
        params = {"module": cls, "kernel_size": k, "stride": s, "padding": p}
        module_case(fam, name, params, mod, [torch.randn(2, 3, 7, 6)])
    for name, sf in (("upsample_2", (2, 2)), ("upsample_23", (2, 3))):
        mod = torch.nn.Upsample(scale_factor=tuple(float(v) for v in sf), mode="nearest")
        module_case(fam, name, {"module": "Upsample", "scale_factor": sf}, mod, [torch.randn(2, 3, 4, 5)])

    # The pooling modules inside a Sequential, after a BatchNorm2d (keys "0.weight", ...).
    seq = torch.nn.Sequential(torch.nn.BatchNorm2d(3), torch.nn.MaxPool2d(2), torch.nn.Upsample(scale_factor=2.0),
                              torch.nn.AvgPool2d(3, stride=1, padding=1))
    module_case(fam, "sequential", {"module": "Sequential"}, seq, [shifted(2, 3, 6, 8) for _ in range(2)],
                shifted(2, 3, 6, 8))

    # A ModuleDict: its keys prefix the state_dict's ("layers.conv.weight", ...).
    module_case(fam, "module_dict", {"module": "ModuleDict"}, DictNet(), [shifted(4, 3, 6) for _ in range(2)],
                shifted(4, 3, 6))
    return fam


def families():
    torch.manual_seed(1700)
    return [layers_family()]
