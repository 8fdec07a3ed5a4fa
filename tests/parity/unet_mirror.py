"""tinydiff's own PyTorch mirror of the ddpm_mnist U-Net.

Written for the parity tests: parameter names, shapes and the forward
computation are those of examples/ddpm_mnist/unet.hpp (and of the reference
model the project was specified against), so a checkpoint written by
ddpm_mnist loads here with load_state_dict(strict=True) and both sides can be
compared number for number.

  x [B, 1, 28, 28] float;  t [B] int64 timesteps;  y [B] int64 labels in
  [0, num_classes], where num_classes is the "no label" class that classifier-
  free guidance trains with (y=None means all "no label").
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def sinusoidal_embedding(t, dim):
    """[sin(t w_0) .. sin(t w_{h-1}), cos(t w_0) .. cos(t w_{h-1})], h = dim // 2,
    w_i = 10000^(-i / (h - 1))."""
    h = dim // 2
    i = torch.arange(h, dtype=torch.float32, device=t.device)
    w = torch.exp(-math.log(10000.0) * i / (h - 1))
    angles = t.to(torch.float32).unsqueeze(1) * w.unsqueeze(0)
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-Conv twice, the time embedding added in between, and a
    1x1 convolution on the skip path when the channel count changes."""

    def __init__(self, cin, cout, temb_dim, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, kernel_size=3, padding=1)
        self.temb_proj = nn.Linear(temb_dim, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, kernel_size=3, padding=1)
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, kernel_size=1)

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb_proj(F.silu(temb)).unsqueeze(-1).unsqueeze(-1)
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class UNet(nn.Module):
    def __init__(self, in_ch=1, base=32, mults=(1, 2, 2), groups=8, num_classes=10):
        super().__init__()
        self.base = base
        self.num_classes = num_classes
        temb_dim = 4 * base
        self.time_mlp = nn.Sequential(nn.Linear(base, temb_dim), nn.SiLU(), nn.Linear(temb_dim, temb_dim))
        if num_classes > 0:
            self.class_emb = nn.Embedding(num_classes + 1, temb_dim)
        self.conv_in = nn.Conv2d(in_ch, base, kernel_size=3, padding=1)

        widths = [base * m for m in mults]
        self.down = nn.ModuleList()
        c = base
        for level, width in enumerate(widths):
            stage = nn.Module()
            stage.res = ResBlock(c, width, temb_dim, groups)
            if level < len(widths) - 1:
                stage.downsample = nn.Conv2d(width, width, kernel_size=3, stride=2, padding=1)
            self.down.append(stage)
            c = width
        self.mid = nn.ModuleList([ResBlock(c, c, temb_dim, groups) for _ in range(2)])
        self.up = nn.ModuleList()
        for level in range(len(widths) - 1, -1, -1):
            width = widths[level]
            stage = nn.Module()
            stage.res = ResBlock(c + width, width, temb_dim, groups)
            if level > 0:
                stage.upsample = nn.ConvTranspose2d(width, width, kernel_size=4, stride=2, padding=1)
            self.up.append(stage)
            c = width
        self.norm_out = nn.GroupNorm(groups, c)
        self.conv_out = nn.Conv2d(c, in_ch, kernel_size=3, padding=1)

    def forward(self, x, t, y=None):
        temb = self.time_mlp(sinusoidal_embedding(t, self.base))
        if self.num_classes > 0:
            labels = y if y is not None else torch.full_like(t, self.num_classes)
            temb = temb + self.class_emb(labels)
        h = self.conv_in(x)
        skips = []
        for stage in self.down:
            h = stage.res(h, temb)
            skips.append(h)
            if hasattr(stage, "downsample"):
                h = stage.downsample(h)
        for block in self.mid:
            h = block(h, temb)
        for stage in self.up:
            h = stage.res(torch.cat([h, skips.pop()], dim=1), temb)
            if hasattr(stage, "upsample"):
                h = stage.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))
