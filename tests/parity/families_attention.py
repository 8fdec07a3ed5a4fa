"""PyTorch fixtures for attention (tests/parity/test_parity_attention.cpp): scaled-dot-product
attention and nn.MultiheadAttention, forward and every gradient with random upstream gradients.

Torch 1.13 (Debian) has no F.scaled_dot_product_attention, so the reference computes its
definition by hand, in float64 and then rounded to float32:
    softmax(q k^T * scale + mask, -1) v
Masks go to tinydiff as floats: "mask" is either additive (added to the scores, mask_kind
"additive") or 0/1 with 1 = take part (mask_kind "allowed", PyTorch's bool mask, which the C++
side turns into an additive one with additive_mask). For MultiheadAttention "padding" is
PyTorch's bool key_padding_mask as 0/1 (1 = ignore) and "attn_mask" is additive, or 0/1 with
1 = ignore (attn_mask_kind "ignore").
"""
import math

import torch

from make_fixtures import Family, leaf


def reference_attention(q, k, v, mask, scale):
    """softmax(q k^T * scale + mask) v in float64 (mask additive or None)."""
    scores = (q.double() @ k.double().transpose(-2, -1)) * scale
    if mask is not None:
        scores = scores + mask.double()
    return (torch.softmax(scores, dim=-1) @ v.double()).float()


def attention_family():
    fam = Family("attention")
    # (name, q shape, k shape, v shape, mask: None / "additive" / "allowed" / "causal", mask shape, scale)
    cases = [
        ("plain3d", (2, 4, 5), (2, 6, 5), (2, 6, 3), None, None, None),
        ("plain2d", (3, 4), (5, 4), (5, 2), None, None, None),
        ("additive4d", (2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 8), "additive", (4, 5), None),
        ("allowed", (2, 2, 5, 4), (2, 2, 7, 4), (2, 2, 7, 6), "allowed", (2, 1, 5, 7), None),
        ("causal", (2, 6, 4), (2, 6, 4), (2, 6, 4), "causal", None, None),
        ("causal_rect", (3, 4), (6, 4), (6, 2), "causal", None, 0.5),
        ("scale", (2, 3, 4), (2, 5, 4), (2, 5, 4), None, None, 0.25),
        ("shared_kv", (2, 3, 3, 4), (5, 4), (5, 3), "additive", (3, 5), None),
    ]
    for name, qs, ks, vs, kind, ms, scale in cases:
        q, k, v = leaf(*qs), leaf(*ks), leaf(*vs)
        s = scale if scale is not None else 1.0 / math.sqrt(qs[-1])
        tensors = {"q": q, "k": k, "v": v}
        params = {"mask_kind": kind or "none", "scale": scale if scale is not None else "default"}
        mask_add = None
        if kind == "additive":
            tensors["mask"] = torch.randn(*ms)
            mask_add = tensors["mask"]
        elif kind == "allowed":
            allowed = (torch.rand(*ms) > 0.3).float()
            allowed[..., 0] = 1.0  # every query keeps a key
            tensors["mask"] = allowed
            mask_add = torch.zeros(ms).masked_fill(allowed == 0, float("-inf"))
        elif kind == "causal":
            l, sk = qs[-2], ks[-2]
            mask_add = torch.zeros(l, sk).masked_fill(~torch.ones(l, sk, dtype=torch.bool).tril(), float("-inf"))
        out = reference_attention(q, k, v, mask_add, s)
        g = torch.randn(out.shape)
        out.backward(g)
        tensors.update({"g": g, "out": out, "dq": q.grad, "dk": k.grad, "dv": v.grad})
        fam.case(name, params, tensors)
    return fam


def multihead_attention_family():
    fam = Family("multihead_attention")
    # (name, E, heads, bias, batch_first, self-attention, L, S, N (None: unbatched), padding, attn_mask, average)
    cases = [
        ("self_seq_first", 8, 2, True, False, True, 5, 5, 3, False, None, True),
        ("cross_batch_first", 8, 4, True, True, False, 4, 6, 2, False, None, True),
        ("padding", 6, 3, True, True, True, 5, 5, 2, True, None, True),
        ("additive_mask_per_head", 8, 2, True, False, False, 3, 4, 2, False, "additive", False),
        ("causal_padding", 4, 2, True, False, True, 6, 6, 2, True, "ignore", True),
        ("per_head_ignore", 4, 2, False, True, False, 3, 5, 2, True, "ignore_3d", False),
        ("unbatched", 6, 2, True, False, False, 4, 3, None, False, "additive", True),
    ]
    for name, e, h, bias, batch_first, self_attn, l, s, n, padded, mask_kind, average in cases:
        mha = torch.nn.MultiheadAttention(e, h, bias=bias, batch_first=batch_first)
        with torch.no_grad():  # non-zero biases, so their use is checked
            if bias:
                mha.in_proj_bias.normal_()
                mha.out_proj.bias.normal_()

        def shaped(length):
            if n is None:
                return (length, e)
            return (n, length, e) if batch_first else (length, n, e)

        query = leaf(*shaped(l))
        key = query if self_attn else leaf(*shaped(s))
        value = query if self_attn else leaf(*shaped(s))
        tensors = {"query": query}
        if not self_attn:
            tensors.update({"key": key, "value": value})
        params = {"embed_dim": e, "num_heads": h, "bias": bias, "batch_first": batch_first, "self": self_attn,
                  "average": average, "attn_mask_kind": mask_kind or "none"}
        kpm = None
        if padded:
            pad = torch.zeros(n, s, dtype=torch.bool)
            pad[0, s - 1] = True
            pad[n - 1, 1] = True
            kpm = pad
            tensors["padding"] = pad.float()
        attn_mask = None
        if mask_kind == "additive":
            attn_mask = torch.randn(l, s)
            tensors["attn_mask"] = attn_mask
        elif mask_kind == "ignore":
            attn_mask = ~torch.ones(l, s, dtype=torch.bool).tril()
            tensors["attn_mask"] = attn_mask.float()
        elif mask_kind == "ignore_3d":
            attn_mask = torch.rand(n * h, l, s) > 0.7
            attn_mask[..., 0] = False
            tensors["attn_mask"] = attn_mask.float()
        out, weights = mha(query, key, value, key_padding_mask=kpm, need_weights=True, attn_mask=attn_mask,
                           average_attn_weights=average)
        g, g_weights = torch.randn(out.shape), torch.randn(weights.shape)
        ((out * g).sum() + (weights * g_weights).sum()).backward()
        tensors.update({"in_proj_weight": mha.in_proj_weight, "out_proj_weight": mha.out_proj.weight,
                        "g": g, "g_weights": g_weights, "out": out, "weights": weights,
                        "din_proj_weight": mha.in_proj_weight.grad, "dout_proj_weight": mha.out_proj.weight.grad,
                        "dquery": query.grad})
        if bias:
            tensors.update({"in_proj_bias": mha.in_proj_bias, "out_proj_bias": mha.out_proj.bias,
                            "din_proj_bias": mha.in_proj_bias.grad, "dout_proj_bias": mha.out_proj.bias.grad})
        if not self_attn:
            tensors.update({"dkey": key.grad, "dvalue": value.grad})
        fam.case(name, params, tensors)
    return fam


def families():
    torch.manual_seed(17)
    return [attention_family(), multihead_attention_family()]
