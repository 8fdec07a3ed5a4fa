"""PyTorch fixtures for the losses (tests/parity/test_parity_losses.cpp): nll_loss and cross_entropy with
class-index targets over [N, C] and [N, C, d1, d2] (class weights, ignore_index, label smoothing),
cross_entropy with probability targets, binary_cross_entropy(_with_logits) with weight and
pos_weight, l1 / smooth_l1 / huber and kl_div, each for every reduction, forward and every gradient
(targets too, where PyTorch gives them one) with a random upstream gradient g."""
import warnings

import torch
import torch.nn.functional as F

from make_fixtures import Family, leaf, run

REDUCTIONS = ("none", "mean", "sum")


def class_targets(shape, c, ignore_index):
    """Random classes in [0, c) with about a quarter set to ignore_index."""
    t = torch.randint(0, c, shape)
    t[torch.rand(shape) < 0.25] = ignore_index
    return t


def nll_loss_family():
    fam = Family("nll_loss")
    i = 0
    for reduction in REDUCTIONS:
        for shape in ((6, 5), (3, 4, 2, 3)):
            for weighted in (False, True):
                for ignore_index in (-100, 1):
                    n, c, rest = shape[0], shape[1], shape[2:]
                    x = torch.randn(*shape).log_softmax(1).detach().requires_grad_()
                    inputs = {"x": x, "target": class_targets((n,) + rest, c, ignore_index),
                              "weight": torch.rand(c) + 0.5 if weighted else None}
                    r = run(lambda x, target, weight: F.nll_loss(x, target, weight, ignore_index=ignore_index,
                                                                 reduction=reduction), inputs)
                    fam.case(f"c{i}", {"reduction": reduction, "ignore_index": ignore_index}, r)
                    i += 1
    return fam


def cross_entropy_nd_family():
    fam = Family("cross_entropy_nd")
    i = 0
    for reduction in REDUCTIONS:
        for shape in ((6, 5), (2, 4, 3, 2)):
            for weighted in (False, True):
                for smoothing in (0.0, 0.2):
                    n, c, rest = shape[0], shape[1], shape[2:]
                    inputs = {"x": leaf(*shape, scale=2.0), "target": class_targets((n,) + rest, c, -100),
                              "weight": torch.rand(c) + 0.5 if weighted else None}
                    r = run(lambda x, target, weight: F.cross_entropy(x, target, weight, reduction=reduction,
                                                                      label_smoothing=smoothing), inputs)
                    fam.case(f"c{i}", {"reduction": reduction, "label_smoothing": smoothing}, r)
                    i += 1
    return fam


def cross_entropy_prob_family():
    fam = Family("cross_entropy_prob")
    i = 0
    for reduction in REDUCTIONS:
        for shape in ((5, 4), (2, 3, 2, 2)):
            for weighted in (False, True):
                for smoothing in (0.0, 0.1):
                    target = torch.randn(*shape).softmax(1).detach().requires_grad_()
                    inputs = {"x": leaf(*shape, scale=2.0), "target": target,
                              "weight": torch.rand(shape[1]) + 0.5 if weighted else None}
                    r = run(lambda x, target, weight: F.cross_entropy(x, target, weight, reduction=reduction,
                                                                      label_smoothing=smoothing), inputs)
                    fam.case(f"c{i}", {"reduction": reduction, "label_smoothing": smoothing}, r)
                    i += 1
    return fam


def bce_family():
    fam = Family("binary_cross_entropy")
    i = 0
    for reduction in REDUCTIONS:
        for weight_shape in (None, (3,), (4, 1)):
            p = (torch.rand(4, 3) * 0.9 + 0.05).requires_grad_()
            inputs = {"x": p, "target": torch.rand(4, 3).requires_grad_(),
                      "weight": torch.rand(*weight_shape) + 0.5 if weight_shape else None}
            r = run(lambda x, target, weight: F.binary_cross_entropy(x, target, weight, reduction=reduction), inputs)
            fam.case(f"c{i}", {"reduction": reduction}, r)
            i += 1
    return fam


def bce_logits_family():
    fam = Family("binary_cross_entropy_with_logits")
    i = 0
    for reduction in REDUCTIONS:
        for weighted in (False, True):
            for pos_weighted in (False, True):
                inputs = {"x": leaf(4, 3, scale=3.0), "target": torch.rand(4, 3).requires_grad_(),
                          "weight": torch.rand(4, 1) + 0.5 if weighted else None,
                          "pos_weight": torch.rand(3) * 2 + 0.5 if pos_weighted else None}
                r = run(lambda x, target, weight, pos_weight: F.binary_cross_entropy_with_logits(
                    x, target, weight, reduction=reduction, pos_weight=pos_weight), inputs)
                fam.case(f"c{i}", {"reduction": reduction}, r)
                i += 1
    return fam


def regression_losses_family():
    fam = Family("regression_losses")
    ops = [("l1_loss", 0.0, lambda x, t, r, p: F.l1_loss(x, t, reduction=r)),
           ("smooth_l1_loss", 1.0, lambda x, t, r, p: F.smooth_l1_loss(x, t, reduction=r, beta=p)),
           ("smooth_l1_loss", 0.5, lambda x, t, r, p: F.smooth_l1_loss(x, t, reduction=r, beta=p)),
           ("smooth_l1_loss", 0.0, lambda x, t, r, p: F.smooth_l1_loss(x, t, reduction=r, beta=p)),
           ("huber_loss", 1.0, lambda x, t, r, p: F.huber_loss(x, t, reduction=r, delta=p)),
           ("huber_loss", 2.0, lambda x, t, r, p: F.huber_loss(x, t, reduction=r, delta=p))]
    i = 0
    for op, param, fn in ops:
        for reduction in REDUCTIONS:
            r = run(lambda x, target: fn(x, target, reduction, param),
                    {"x": leaf(3, 4, 2, scale=2.0), "target": leaf(3, 4, 2)})
            fam.case(f"c{i}", {"op": op, "param": param, "reduction": reduction}, r)
            i += 1
    return fam


def kl_div_family():
    fam = Family("kl_div")
    i = 0
    for reduction in ("none", "mean", "sum", "batchmean"):
        for log_target in (False, True):
            x = torch.randn(3, 5).log_softmax(1).detach().requires_grad_()
            t = torch.randn(3, 5).softmax(1)
            if log_target:
                t = t.log()
            r = run(lambda x, target: F.kl_div(x, target, reduction=reduction, log_target=log_target),
                    {"x": x, "target": t.detach().requires_grad_()})
            fam.case(f"c{i}", {"reduction": reduction, "log_target": log_target}, r)
            i += 1
    return fam


def families():
    torch.manual_seed(1717)
    warnings.filterwarnings("ignore", message="reduction: 'mean' divides")  # kl_div's 'mean' is checked on purpose
    return [nll_loss_family(), cross_entropy_nd_family(), cross_entropy_prob_family(), bce_family(),
            bce_logits_family(), regression_losses_family(), kl_div_family()]
