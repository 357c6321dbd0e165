"""A high-fidelity conditional generator of breath cycles: conditional flow matching.

The HTVAE gives control (which node, which class, which latent); its decoder gives the *mean* breath of a
latent, which blurs the sharp, variably timed edges of real breaths (trigger, end of inspiration, valve
opening) and holds no sensor noise. This module learns the whole conditional law ``p(x | z, length)``
of the cycles instead, with flow matching (rectified flow): a network ``v(x_t, t | c)`` is trained so
that integrating ``dx/dt = v`` from Gaussian noise at ``t = 0`` gives a cycle at ``t = 1``.

Conditioning ``c`` (what makes the breath agree with the hierarchy and with its length):

* the decoder's mean cycle ``m = decoder(z)`` as two extra input channels (so the network learns the
  detail around the mean, in place, at every time step);
* a mask channel, 1 inside the breath (first ``length`` samples) and 0 in the edge padding, so that the
  breath ends exactly where it is asked to; the padding is then filled by repeating the last sample,
  as real cycles are;
* ``z`` and ``length / T`` through a FiLM embedding, with the flow time ``t``.

The loss is the squared velocity error inside the breath. Sampling uses ``steps`` midpoint steps in
batches, on a time grid that may shrink the steps towards the data end (:func:`time_grid`).

Examples
--------
>>> import torch
>>> net = FlowNet(channels=2, cond_dim=4, width=8)
>>> x = torch.zeros(3, 2, 40); m = torch.zeros(3, 2, 40); mask = torch.ones(3, 1, 40)
>>> tuple(net(x, torch.zeros(3), m, mask, torch.zeros(3, 4)).shape)
(3, 2, 40)
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..signals.cycles import edge_pad

__all__ = ["FlowNet", "length_mask", "flow_matching_loss", "sample_flow", "time_grid", "edge_pad"]


def _groups(width: int) -> int:
    """Groups of the GroupNorm of ``width`` channels: 8, or every channel its own below 8 (as model files
    have always had), or the largest divisor of 8 that divides ``width`` (e.g. 4 for 12)."""
    return width if width < 8 else math.gcd(8, width)


class _FiLMBlock(nn.Module):
    """Two dilated convolutions with a FiLM (scale, shift) from the embedding, residual."""

    def __init__(self, width: int, emb: int, dilation: int):
        super().__init__()
        self.n1 = nn.GroupNorm(_groups(width), width)
        self.c1 = nn.Conv1d(width, width, 5, padding=2 * dilation, dilation=dilation)
        self.n2 = nn.GroupNorm(_groups(width), width)
        self.c2 = nn.Conv1d(width, width, 5, padding=2, dilation=1)
        self.film = nn.Linear(emb, 2 * width)

    def forward(self, h, e):
        scale, shift = self.film(e).unsqueeze(-1).chunk(2, dim=1)
        y = self.c1(F.silu(self.n1(h)))
        y = self.n2(y) * (1 + scale) + shift
        return h + self.c2(F.silu(y))


class FlowNet(nn.Module):
    """The velocity network: a 1-D U-Net (one downsampling level) with FiLM conditioning.

    Parameters
    ----------
    channels : int
        Signal channels (2: flow and pressure).
    cond_dim : int
        Size of the vector condition (latent dimension + 1 for the length).
    width : int
        Convolution width at full resolution (doubled at half resolution).
    """

    def __init__(self, channels: int, cond_dim: int, width: int = 32):
        super().__init__()
        emb = 4 * width
        self.freqs = nn.Parameter(torch.exp(torch.linspace(0, math.log(1000.0), width // 2)), requires_grad=False)
        # the time's sines and cosines (2 * (width // 2) values: an odd width has one fewer) and the condition
        self.embed = nn.Sequential(nn.Linear(2 * (width // 2) + cond_dim, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.inp = nn.Conv1d(2 * channels + 1, width, 5, padding=2)
        self.down1 = nn.ModuleList([_FiLMBlock(width, emb, 1), _FiLMBlock(width, emb, 2)])
        self.pool = nn.Conv1d(width, 2 * width, 4, stride=2, padding=1)
        self.mid = nn.ModuleList([_FiLMBlock(2 * width, emb, d) for d in (1, 2, 4, 8)])
        self.up = nn.ConvTranspose1d(2 * width, width, 4, stride=2, padding=1)
        self.up1 = nn.ModuleList([_FiLMBlock(width, emb, 1), _FiLMBlock(width, emb, 2)])
        self.out = nn.Conv1d(width, channels, 5, padding=2)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x, t, mean, mask, cond):
        tt = t.reshape(-1, 1) * self.freqs.reshape(1, -1)
        e = self.embed(torch.cat([torch.sin(tt), torch.cos(tt), cond], dim=1))
        h = self.inp(torch.cat([x, mean, mask], dim=1))
        for b in self.down1:
            h = b(h, e)
        skip = h
        h = self.pool(h)
        for b in self.mid:
            h = b(h, e)
        h = self.up(h)
        if h.shape[-1] != skip.shape[-1]:  # odd lengths
            h = F.pad(h, (0, skip.shape[-1] - h.shape[-1]))
        h = h + skip
        for b in self.up1:
            h = b(h, e)
        return self.out(F.silu(h))


def length_mask(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """(n, 1, T) float mask, 1 for the first ``lengths[i]`` samples."""
    return (torch.arange(T, device=lengths.device)[None, :] < lengths[:, None]).float().unsqueeze(1)


def flow_matching_loss(net: FlowNet, x1, mean, mask, cond, generator=None, loss_mask=None):
    """Rectified-flow loss: ``|| v(x_t, t) - (x1 - x0) ||^2`` over ``loss_mask`` (default: inside the
    breath, ``mask``), mean per value."""
    n = x1.shape[0]
    x0 = torch.randn(x1.shape, generator=generator, device=x1.device)
    t = torch.rand(n, generator=generator, device=x1.device)
    xt = (1 - t)[:, None, None] * x0 + t[:, None, None] * x1
    v = net(xt, t, mean, mask, cond)
    w = mask if loss_mask is None else loss_mask
    err = (v - (x1 - x0)) ** 2 * w
    return err.sum() / (w.sum() * x1.shape[1]).clamp_min(1.0)


def time_grid(steps: int, power: float = 1.0) -> list[float]:
    """The sampler's ``steps + 1`` times from 0 (noise) to 1 (data): ``1 - (1 - k / steps) ** power``.

    ``power`` 1 spaces them evenly; above 1 the steps shrink towards the data end, where the fine
    detail of a sample forms.

    >>> [round(t, 3) for t in time_grid(4, 2.0)]
    [0.0, 0.438, 0.75, 0.938, 1.0]
    """
    return [1.0 - (1.0 - k / steps) ** power for k in range(steps)] + [1.0]


@torch.no_grad()
def sample_flow(net: FlowNet, mean, mask, cond, *, steps: int = 16, generator=None, x0=None, time_power: float = 1.0):
    """Integrate the learned flow from Gaussian noise (``x0``, else drawn from ``generator``) with
    ``steps`` midpoint steps (two network calls each) on :func:`time_grid` ``(steps, time_power)``."""
    x = torch.randn(mean.shape, generator=generator, device=mean.device) if x0 is None else x0
    n = x.shape[0]
    grid = time_grid(int(steps), float(time_power))
    for t0, t1 in zip(grid[:-1], grid[1:], strict=True):
        dt = t1 - t0
        v = net(x, torch.full((n,), t0, device=x.device), mean, mask, cond)
        xm = x + 0.5 * dt * v
        v = net(xm, torch.full((n,), t0 + 0.5 * dt, device=x.device), mean, mask, cond)
        x = x + dt * v
    return x
