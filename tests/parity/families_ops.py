"""PyTorch fixtures for the index, pad, repeat and factory ops of issue #17 (tests/parity/test_parity_ops.cpp):

  ops    gather, index_select and embedding with int64 indices ("index", I64), pad in every mode
         (constant with a value, reflect, replicate, circular, negative pads), Tensor.repeat,
         Tensor.select, eye, linspace; and an I64 tensor beyond 2^24 ("big") that must load exactly.

Parameters: "op"; "dim"; "pads" (the F.pad list, last dim first); "mode"; "value"; "sizes";
"index" (select's); "n", "m", "start", "end", "steps" (factories); "values" (big's exact values)."""
import torch
import torch.nn.functional as F

from make_fixtures import Family, leaf, run


def ops_family():
    fam = Family("ops")

    def index(high, *shape):
        return torch.randint(0, high, shape, dtype=torch.int64)

    # gather: out has the index's shape; the index may be longer than x along dim, not elsewhere
    for name, dim, ishape in (("gather_d0", 0, (5, 3, 2)), ("gather_d1", 1, (2, 6, 1)), ("gather_dm1", -1, (3, 4, 3))):
        x = leaf(3, 4, 2)
        r = run(lambda x, index: torch.gather(x, dim, index), {"x": x, "index": index(x.shape[dim], *ishape)})
        fam.case(name, {"op": "gather", "dim": dim}, r)
    for dim in (0, 1):
        x = leaf(4, 5)
        r = run(lambda x, index: torch.index_select(x, dim, index), {"x": x, "index": index(x.shape[dim], 7)})
        fam.case(f"index_select_d{dim}", {"op": "index_select", "dim": dim}, r)
    r = run(lambda index, w: F.embedding(index, w), {"index": index(6, 2, 3, 4), "w": leaf(6, 5)})
    fam.case("embedding", {"op": "embedding"}, r)

    # pad: (shape, pads, mode, value)
    pads = [((2, 3, 5), (1, 2), "constant", 0.0), ((2, 3, 5), (-1, 2, 2, -1, 0, 1), "constant", -0.5),
            ((2, 3, 4, 5), (2, -3, 1, 1), "constant", 1.5),
            ((2, 3, 5), (3, 4), "reflect", 0.0), ((3, 6), (-2, 4), "reflect", 0.0),
            ((2, 3, 4, 5), (1, 2, 3, 1), "reflect", 0.0), ((2, 4, 5), (2, 1, -1, 3), "reflect", 0.0),
            ((2, 3, 5), (4, 7), "replicate", 0.0), ((2, 3, 4, 5), (-2, 3, 2, 0), "replicate", 0.0),
            ((1, 2, 3, 4, 2), (1, 1, 2, 0, 1, 2), "replicate", 0.0),
            ((2, 3, 5), (2, 5), "circular", 0.0), ((2, 3, 5), (3, -1), "circular", 0.0),
            ((2, 3, 4, 5), (1, 2, 3, 1), "circular", 0.0)]
    for j, (shape, p, mode, value) in enumerate(pads):
        fn = (lambda x: F.pad(x, p, mode="constant", value=value)) if mode == "constant" else \
             (lambda x: F.pad(x, p, mode=mode))
        r = run(fn, {"x": leaf(*shape)})
        fam.case(f"pad{j}_{mode}", {"op": "pad", "pads": p, "mode": mode, "value": value}, r)

    for j, (shape, sizes) in enumerate((((2, 3), (2, 1)), ((2, 3), (3, 1, 2)), ((4,), (2, 2, 1)), ((2, 1, 3), (1, 4, 1)))):
        r = run(lambda x: x.repeat(*sizes), {"x": leaf(*shape)})
        fam.case(f"repeat{j}", {"op": "repeat", "sizes": sizes}, r)
    for j, (dim, i) in enumerate(((0, 1), (1, -1), (-1, 0))):
        r = run(lambda x: x.select(dim, i), {"x": leaf(3, 4, 2)})
        fam.case(f"select{j}", {"op": "select", "dim": dim, "index": i}, r)

    for j, (n, m) in enumerate(((4, None), (2, 5), (5, 3))):
        fam.case(f"eye{j}", {"op": "eye", "n": n, "m": -1 if m is None else m},
                 {"out": torch.eye(n) if m is None else torch.eye(n, m)})
    for j, (start, end, steps) in enumerate(((0.0, 1.0, 5), (-1.3, 2.7, 7), (3.0, -3.0, 10), (2.5, 100.0, 1001))):
        fam.case(f"linspace{j}", {"op": "linspace", "start": start, "end": end, "steps": steps},
                 {"out": torch.linspace(start, end, steps)})

    # Integers that float32 would round: written as I64 by this (independent) writer, read exactly.
    values = [2 ** 24 + 1, -(2 ** 40) - 3, 2 ** 62 + 7, 5]
    fam.case("big_int64", {"op": "big_int64", "values": values}, {"big": torch.tensor(values, dtype=torch.int64)})
    return fam


def families():
    torch.manual_seed(1700)
    return [ops_family()]
