#!/usr/bin/python3
"""PyTorch reference fixtures for tests/parity/test_parity.cpp.

  /usr/bin/python3 make_fixtures.py OUTDIR

For each op family, runs PyTorch (float32, one thread, fixed seeds) forward and
backward with a random upstream gradient g, and writes OUTDIR/<family>.safetensors
holding every case of the family. Tensor names are "<case>.<name>":

  inputs and weights   x, w, b, target, labels, indices, ...
  g                    the upstream gradient given to out.backward(g)
  out                  the forward output
  dx, dw, db, ...      the gradient of each input / weight ("d" + its name)

The JSON "__metadata__" (string values only) holds:

  "cases"              the case names, comma separated, in order
  "<case>.<param>"     hyper-parameters: integers ("2"), pairs ("2,1"), floats,
                       words ("mean", "tanh"), booleans ("1"/"0")

Optimisers (optim.safetensors): "<case>.p0" the initial parameter,
"<case>.grad<k>" the gradient set before step k and "<case>.p<k>" the
parameter after step k, k = 1..steps.

Finally OUTDIR/fixtures.stamp is written (the build's record that every file
is complete). The safetensors writer is our own (no safetensors package).
"""
import importlib
import json
import os
import random
import struct
import sys

import torch
import torch.nn.functional as F


from safetensors_io import write_safetensors  # noqa: E402  (the scripts share one writer)


class Family:
    """Collects the cases of one family and writes them to one file."""

    def __init__(self, name):
        self.name, self.tensors, self.meta, self.cases = name, [], {}, []

    def case(self, name, params, tensors):
        assert name not in self.cases, name
        self.cases.append(name)
        for k, v in params.items():
            self.meta[f"{name}.{k}"] = fmt(v)
        for k, v in tensors.items():
            if v is not None:
                self.tensors.append((f"{name}.{k}", v))

    def write(self, outdir):
        meta = dict(self.meta)
        meta["cases"] = ",".join(self.cases)
        write_safetensors(os.path.join(outdir, self.name + ".safetensors"), self.tensors, meta)
        return len(self.cases)


def fmt(v):
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (tuple, list)):
        return ",".join(str(e) for e in v)
    return str(v)


def pair(v):
    return v if isinstance(v, tuple) else (v, v)


def leaf(*shape, scale=1.0):
    return (torch.randn(*shape) * scale).requires_grad_()


def run(fn, inputs):
    """out = fn(**inputs) (float tensors requiring grad get gradients); backward with a random g.
    Returns the dict of inputs, g, out and d<name> for each input that requires grad."""
    out = fn(**inputs)
    g = torch.randn(out.shape)
    out.backward(g)
    result = dict(inputs)
    result["g"] = g
    result["out"] = out
    for k, v in inputs.items():
        if isinstance(v, torch.Tensor) and v.requires_grad:
            result["d" + k] = v.grad
    return result


# ------------------------------------------------------------ convolution ----

def conv_out(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def conv2d_family(rng):
    fam = Family("conv2d")
    # (kernel, stride, padding, dilation, groups, bias): hand-picked cases first (the U-Net's
    # 3x3 s1 p1, 3x3 s2 p1, 1x1; asymmetric pairs), then a seeded random sample of the product.
    picked = [
        (3, 1, 1, 1, 1, True), (3, 2, 1, 1, 1, True), (1, 1, 0, 1, 1, True), (1, 1, 0, 1, 1, False),
        (4, 2, 1, 1, 1, True), ((3, 2), 1, 0, 1, 1, True), ((3, 2), 2, 1, 2, 2, False),
        (3, (2, 1), (1, 0), (1, 2), 1, True), ((1, 3), (1, 2), (0, 1), 1, 2, True),
        (3, 1, 1, 2, 2, True), (4, 1, 0, 2, 2, False), (1, 2, 1, 1, 2, True),
    ]
    product = [(k, s, p, d, gr, b) for k in (1, 3, 4, (3, 2)) for s in (1, 2) for p in (0, 1)
               for d in (1, 2) for gr in (1, 2) for b in (True, False)]
    rng.shuffle(product)
    cases = picked + product[:28]
    for i, (k, s, p, d, groups, bias) in enumerate(cases):
        kh, kw = pair(k)
        n, cin, cout, h, w = 2, 4, 6, 7, 6
        if conv_out(h, kh, pair(s)[0], pair(p)[0], pair(d)[0]) < 1 or \
           conv_out(w, kw, pair(s)[1], pair(p)[1], pair(d)[1]) < 1:
            continue
        inputs = {"x": leaf(n, cin, h, w), "w": leaf(cout, cin // groups, kh, kw, scale=0.5),
                  "b": leaf(cout) if bias else None}
        r = run(lambda x, w, b: F.conv2d(x, w, b, stride=s, padding=p, dilation=d, groups=groups), inputs)
        fam.case(f"c{i}", {"stride": pair(s), "padding": pair(p), "dilation": pair(d), "groups": groups,
                           "bias": bias}, r)
    return fam


def conv_transpose2d_family(rng):
    fam = Family("conv_transpose2d")
    # (kernel, stride, padding, output_padding, dilation, groups, bias); the U-Net's 4x4 s2 p1 first.
    picked = [
        (4, 2, 1, 0, 1, 1, True), (4, 2, 1, 0, 1, 1, False), (3, 2, 1, 1, 1, 1, True), (1, 1, 0, 0, 1, 1, True),
        (3, 1, 1, 0, 1, 2, True), ((3, 2), 2, 0, 1, 1, 1, True), ((3, 2), (2, 1), (1, 0), (1, 0), 1, 2, False),
        (3, 1, 0, 1, 2, 1, True), (4, (1, 2), 1, (0, 1), (2, 1), 2, True), (1, 2, 0, 1, 1, 1, False),
    ]
    product = [(k, s, p, op, d, gr, b) for k in (1, 3, 4, (3, 2)) for s in (1, 2) for p in (0, 1)
               for op in (0, 1) for d in (1, 2) for gr in (1, 2) for b in (True, False)
               if op < s or op < d]  # output_padding must be smaller than stride or dilation
    rng.shuffle(product)
    cases = picked + product[:26]
    for i, (k, s, p, op, d, groups, bias) in enumerate(cases):
        kh, kw = pair(k)
        n, cin, cout, h, w = 2, 4, 6, 4, 5
        hout = (h - 1) * pair(s)[0] - 2 * pair(p)[0] + pair(d)[0] * (kh - 1) + pair(op)[0] + 1
        wout = (w - 1) * pair(s)[1] - 2 * pair(p)[1] + pair(d)[1] * (kw - 1) + pair(op)[1] + 1
        if hout < 1 or wout < 1:
            continue
        inputs = {"x": leaf(n, cin, h, w), "w": leaf(cin, cout // groups, kh, kw, scale=0.5),
                  "b": leaf(cout) if bias else None}
        r = run(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=s, padding=p, output_padding=op,
                                                   groups=groups, dilation=d), inputs)
        fam.case(f"c{i}", {"stride": pair(s), "padding": pair(p), "output_padding": pair(op),
                           "dilation": pair(d), "groups": groups, "bias": bias}, r)
    return fam


# ---------------------------------------------------------- normalisation ----

def group_norm_family():
    fam = Family("group_norm")
    i = 0
    for shape in ((2, 4, 3, 5), (3, 6, 4)):
        c = shape[1]
        for groups in (1, 2, c):
            for affine in (True, False):
                inputs = {"x": (torch.randn(*shape) * 2.0 + 0.5).requires_grad_(),
                          "w": leaf(c) if affine else None, "b": leaf(c) if affine else None}
                r = run(lambda x, w, b: F.group_norm(x, groups, w, b, eps=1e-5), inputs)
                fam.case(f"c{i}", {"groups": groups, "affine": affine, "eps": "1e-5"}, r)
                i += 1
    return fam


def layer_norm_family():
    fam = Family("layer_norm")
    i = 0
    for shape, normalized in (((4, 7), (7,)), ((2, 3, 4, 5), (5,)), ((2, 3, 4, 5), (4, 5)), ((3, 2, 6), (2, 6))):
        for affine in (True, False):
            inputs = {"x": (torch.randn(*shape) * 1.5 - 0.3).requires_grad_(),
                      "w": leaf(*normalized) if affine else None, "b": leaf(*normalized) if affine else None}
            r = run(lambda x, w, b: F.layer_norm(x, normalized, w, b, eps=1e-5), inputs)
            fam.case(f"c{i}", {"normalized_shape": normalized, "affine": affine, "eps": "1e-5"}, r)
            i += 1
    return fam


# ------------------------------------------------------------ activations ----

def activation_family():
    fam = Family("activation")
    ops = {
        "silu": F.silu, "relu": F.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
        "gelu": lambda x: F.gelu(x), "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    }
    for name, fn in ops.items():
        # values spread over [-6, 6] and beyond, plus a second small-magnitude shape
        for j, (shape, scale) in enumerate((((3, 5, 7), 3.0), ((64,), 0.5))):
            r = run(lambda x: fn(x), {"x": leaf(*shape, scale=scale)})
            fam.case(f"{name}{j}", {"op": name}, r)
    return fam


def softmax_family():
    fam = Family("softmax")
    for op, fn in (("softmax", F.softmax), ("log_softmax", F.log_softmax)):
        for dim in (0, 1, 2, -1):
            r = run(lambda x: fn(x, dim=dim), {"x": leaf(3, 4, 5, scale=3.0)})
            fam.case(f"{op}_{dim if dim >= 0 else 'm1'}", {"op": op, "dim": dim}, r)
        r = run(lambda x: fn(x, dim=1), {"x": leaf(4, 10, scale=20.0)})  # large logits: stability
        fam.case(f"{op}_large", {"op": op, "dim": 1}, r)
    return fam


# ----------------------------------------------------------------- losses ----

def mse_loss_family():
    fam = Family("mse_loss")
    for reduction in ("mean", "sum", "none"):
        for j, shape in enumerate(((4, 5), (2, 3, 4, 4))):
            r = run(lambda x, target: F.mse_loss(x, target, reduction=reduction),
                    {"x": leaf(*shape), "target": leaf(*shape)})
            fam.case(f"{reduction}{j}", {"reduction": reduction}, r)
    return fam


def cross_entropy_family():
    fam = Family("cross_entropy")
    for reduction in ("mean", "sum", "none"):
        for smoothing in (0.0, 0.1, 0.3):
            n, c = 6, 5
            labels = torch.randint(0, c, (n,))
            labels[1] = labels[0]  # a repeated label
            r = run(lambda x, labels: F.cross_entropy(x, labels, reduction=reduction, label_smoothing=smoothing),
                    {"x": leaf(n, c, scale=2.0), "labels": labels})
            fam.case(f"{reduction}_{int(smoothing * 10)}", {"reduction": reduction, "label_smoothing": smoothing},
                     r)
    return fam


# ------------------------------------------------------ pooling, sampling ----

def pool_family():
    fam = Family("pool")
    # (kernel, stride (0: = kernel), padding) on x [2, 3, 7, 6]
    geometries = [(2, 0, 0), (2, 2, 0), (3, 2, 1), (3, 1, 1), ((3, 2), (1, 2), (1, 0)), ((2, 3), (2, 1), (1, 1)),
                  (4, 3, 2)]
    i = 0
    for op, fn in (("avg_pool2d", F.avg_pool2d), ("max_pool2d", F.max_pool2d)):
        for k, s, p in geometries:
            r = run(lambda x: fn(x, k, stride=(None if s == 0 else s), padding=p), {"x": leaf(2, 3, 7, 6)})
            fam.case(f"c{i}", {"op": op, "kernel": pair(k), "stride": pair(s), "padding": pair(p)}, r)
            i += 1
    for scale in (2, (2, 3), (1, 2)):
        r = run(lambda x: F.interpolate(x, scale_factor=pair(scale), mode="nearest"), {"x": leaf(2, 3, 4, 5)})
        fam.case(f"c{i}", {"op": "upsample_nearest2d", "scale": pair(scale)}, r)
        i += 1
    return fam


def embedding_family():
    fam = Family("embedding")
    for j, (num, dim, indices) in enumerate(((7, 4, [3, 1, 3, 0, 6, 3, 1]), (5, 8, [4]), (10, 3, [2, 2, 2, 2]))):
        idx = torch.tensor(indices, dtype=torch.int64)
        r = run(lambda indices, w: F.embedding(indices, w), {"indices": idx, "w": leaf(num, dim)})
        fam.case(f"c{j}", {}, r)
    return fam


# ---------------------------------------------------------------- modules ----

def module_family():
    fam = Family("module")
    for j, (in_f, out_f, bias, xshape) in enumerate(((5, 3, True, (4, 5)), (6, 4, False, (2, 3, 6)),
                                                      (8, 8, True, (8,)))):
        lin = torch.nn.Linear(in_f, out_f, bias=bias)
        x = leaf(*xshape)
        out = lin(x)
        g = torch.randn(out.shape)
        out.backward(g)
        fam.case(f"linear{j}", {"module": "Linear", "in_features": in_f, "out_features": out_f, "bias": bias},
                 {"x": x, "w": lin.weight, "b": lin.bias, "g": g, "out": out, "dx": x.grad, "dw": lin.weight.grad,
                  "db": None if lin.bias is None else lin.bias.grad})
    for j, (num, dim, idx_shape) in enumerate(((9, 4, (2, 5)), (4, 6, (7,)))):
        emb = torch.nn.Embedding(num, dim)
        indices = torch.randint(0, num, idx_shape)
        indices.view(-1)[1] = indices.view(-1)[0]  # a repeated index
        out = emb(indices)
        g = torch.randn(out.shape)
        out.backward(g)
        fam.case(f"embedding{j}", {"module": "Embedding", "num_embeddings": num, "embedding_dim": dim},
                 {"indices": indices, "w": emb.weight, "g": g, "out": out, "dw": emb.weight.grad})
    return fam


# ------------------------------------------------------------- optimisers ----

def optim_family():
    fam = Family("optim")
    steps = 10
    configs = [
        ("sgd_plain", "SGD", dict(lr=0.1)),
        ("sgd_momentum", "SGD", dict(lr=0.05, momentum=0.9)),
        ("sgd_nesterov_wd", "SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
        ("sgd_dampening_wd", "SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.05)),
        ("adam", "Adam", dict(lr=0.01)),
        ("adam_wd", "Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
        ("adam_amsgrad", "Adam", dict(lr=0.01, weight_decay=0.01, amsgrad=True)),
        ("adamw", "AdamW", dict(lr=0.01)),  # weight_decay 0.01, PyTorch's default
        ("adamw_wd", "AdamW", dict(lr=0.02, betas=(0.85, 0.995), weight_decay=0.2)),
    ]
    for name, kind, hyper in configs:
        p = torch.randn(3, 4).requires_grad_()
        tensors = {"p0": p.detach().clone()}
        opt = getattr(torch.optim, kind)([p], **hyper)
        for k in range(1, steps + 1):
            grad = torch.randn(3, 4) * (0.5 + 0.1 * k)
            p.grad = grad.clone()
            opt.step()
            tensors[f"grad{k}"] = grad
            tensors[f"p{k}"] = p.detach().clone()
        params = {"optimizer": kind, "steps": steps, "lr": hyper["lr"]}
        for key in ("momentum", "dampening", "weight_decay", "eps"):
            if key in hyper:
                params[key] = repr(hyper[key])
        if "betas" in hyper:
            params["betas"] = ",".join(repr(b) for b in hyper["betas"])
        for key in ("nesterov", "amsgrad"):
            if key in hyper:
                params[key] = hyper[key]
        fam.case(name, params, tensors)
    return fam


# ------------------------------------------------- everyday ops (issue #17) ----

def everyday_family():
    """where, masked_fill, max/min (along a dim, with indices, and over everything), var, std,
    logsumexp, norm, leaky_relu, elu, softplus, erf, log1p, maximum, minimum, cumsum. Masks are 0/1 float inputs ("cond", "mask"), as tinydiff takes them;
    "dims" is empty for every dim (dim=None)."""
    fam = Family("everyday")
    cond = (torch.randn(2, 1, 4) > 0).float()
    r = run(lambda cond, a, b: torch.where(cond != 0, a, b), {"cond": cond, "a": leaf(3, 1), "b": leaf(2, 3, 4)})
    fam.case("where", {"op": "where"}, r)
    mask = (torch.randn(3, 4) > 0.3).float()
    r = run(lambda x, mask: x.masked_fill(mask != 0, -1.5), {"x": leaf(2, 3, 4), "mask": mask})
    fam.case("masked_fill", {"op": "masked_fill", "value": -1.5}, r)
    for op in ("max", "min"):
        for dim, keepdim in ((1, False), (-1, True), (0, False)):
            x = leaf(3, 4, 5)
            out = getattr(torch, op)(x, dim=dim, keepdim=keepdim)
            g = torch.randn(out.values.shape)
            out.values.backward(g)
            fam.case(f"{op}_dim{dim}_{int(keepdim)}", {"op": op + "_dim", "dim": dim, "keepdim": keepdim},
                     {"x": x, "g": g, "out": out.values, "indices": out.indices, "dx": x.grad})
        r = run(lambda x: getattr(torch, op)(x), {"x": leaf(3, 4)})
        fam.case(f"{op}_all", {"op": op}, r)
    for op, fn in (("var", torch.var), ("std", torch.std)):
        for j, (dims, correction, keepdim) in enumerate(((None, 1, False), ((1,), 0, True), ((0, 2), 1, False),
                                                         ((-1,), 2, False))):
            r = run(lambda x: fn(x, dim=dims, correction=correction, keepdim=keepdim), {"x": leaf(3, 4, 5)})
            fam.case(f"{op}{j}", {"op": op, "dims": dims or (), "correction": correction, "keepdim": keepdim}, r)
    for j, (dims, keepdim, scale) in enumerate((((0, 1, 2), False, 1.0), ((1,), True, 1.0), ((0, 2), False, 30.0),
                                                ((-1,), False, 100.0))):
        r = run(lambda x: torch.logsumexp(x, dim=dims, keepdim=keepdim), {"x": leaf(3, 4, 5, scale=scale)})
        fam.case(f"logsumexp{j}", {"op": "logsumexp", "dims": dims, "keepdim": keepdim}, r)
    for j, (dims, keepdim) in enumerate(((None, False), ((1,), False), ((0, 2), True))):
        x = leaf(3, 4, 5)
        with torch.no_grad():
            x[1, :, :] = 0  # a zero slice: PyTorch's gradient there is 0
        r = run(lambda x: torch.linalg.vector_norm(x, 2, dim=dims, keepdim=keepdim), {"x": x})
        fam.case(f"norm{j}", {"op": "norm", "dims": dims or (), "keepdim": keepdim}, r)
    # elementwise: activations over [-9, 9] (softplus crosses its threshold), erf, log1p on (-1, 5)
    for name, fn, params in (("leaky_relu", lambda x: F.leaky_relu(x, 0.2), {"negative_slope": 0.2}),
                             ("elu", lambda x: F.elu(x, 0.7), {"alpha": 0.7}),
                             ("softplus", lambda x: F.softplus(x), {"beta": 1.0, "threshold": 20.0}),
                             ("softplus", lambda x: F.softplus(x, 2.0, 5.0), {"beta": 2.0, "threshold": 5.0}),
                             ("erf", torch.erf, {})):
        r = run(lambda x: fn(x), {"x": leaf(4, 6, scale=3.0)})
        fam.case(f"{name}{len(fam.cases)}", dict(params, op=name), r)
    r = run(lambda x: torch.log1p(x), {"x": (torch.rand(4, 6) * 6.0 - 0.95).requires_grad_()})
    fam.case("log1p", {"op": "log1p"}, r)
    for name, fn in (("maximum", torch.maximum), ("minimum", torch.minimum)):
        a, b = torch.randn(3, 4), torch.randn(4)
        a[1] = b  # a row of ties: each side gets half of g there
        r = run(lambda a, b: fn(a, b), {"a": a.requires_grad_(), "b": b.requires_grad_()})
        fam.case(name, {"op": name}, r)
    for dim in (0, 2, -2):
        r = run(lambda x: torch.cumsum(x, dim), {"x": leaf(3, 4, 5)})
        fam.case(f"cumsum{len(fam.cases)}", {"op": "cumsum", "dim": dim}, r)
    return fam


# ------------------------------------------------------------------- main ----

# Modules beside this file that add families (tests/parity/families_<area>.py). Each imports
# what it needs from this module (Family, leaf, run) and seeds its own generators, so that
# its fixtures do not depend on the order in which the modules run.
FAMILY_MODULES = ("families_ops", "families_layers", "families_losses", "families_attention")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_fixtures.py OUTDIR")
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    stamp = os.path.join(outdir, "fixtures.stamp")
    if os.path.exists(stamp):
        os.remove(stamp)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rng = random.Random(0)
    families = [conv2d_family(rng), conv_transpose2d_family(rng), group_norm_family(), layer_norm_family(),
                activation_family(), softmax_family(), mse_loss_family(), cross_entropy_family(), pool_family(),
                embedding_family(), module_family(), optim_family(), everyday_family()]
    # Families of later areas live in modules of their own: each has families() -> [Family, ...].
    for module_name in FAMILY_MODULES:
        families += importlib.import_module(module_name).families()
    lines = [f"{fam.name} {fam.write(outdir)}" for fam in families]
    with open(stamp, "w") as f:
        f.write(f"torch {torch.__version__}\n" + "\n".join(lines) + "\n")
    print(f"make_fixtures: wrote {len(families)} families to {outdir}: " + ", ".join(lines))


if __name__ == "__main__":
    main()
