"""The conditional flow-matching generator: padding, masks, and that it learns a known law."""

from __future__ import annotations

import numpy as np
import torch

from ventgen.models.generator import FlowNet, edge_pad, flow_matching_loss, length_mask, sample_flow


def test_edge_pad_repeats_the_last_sample_after_the_length():
    X = np.arange(2 * 2 * 5, dtype=float).reshape(2, 2, 5)
    out = edge_pad(X, np.array([2, 5]))
    assert out[0, 0].tolist() == [0, 1, 1, 1, 1]
    assert out[0, 1].tolist() == [5, 6, 6, 6, 6]
    assert np.array_equal(out[1], X[1])


def test_length_mask():
    m = length_mask(torch.tensor([1, 3]), 4)
    assert m.shape == (2, 1, 4)
    assert m[:, 0].tolist() == [[1, 0, 0, 0], [1, 1, 1, 0]]


def test_flow_learns_a_condition_dependent_shape():
    # two conditions, each with one fixed cycle: the samples must follow the condition
    torch.manual_seed(0)
    T = 16
    t = torch.linspace(0, 1, T)
    shapes = torch.stack([torch.stack([torch.sin(6 * t), t]), torch.stack([-torch.sin(6 * t), 1 - t])])
    cond = torch.tensor([[0.0], [1.0]])
    net = FlowNet(channels=2, cond_dim=1, width=8)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    mean = torch.zeros(32, 2, T)
    mask = torch.ones(32, 1, T)
    for _ in range(250):
        k = torch.randint(0, 2, (32,))
        loss = flow_matching_loss(net, shapes[k], mean, mask, cond[k])
        opt.zero_grad()
        loss.backward()
        opt.step()
    k = torch.tensor([0, 1] * 8)
    out = sample_flow(net.eval(), mean[:16], mask[:16], cond[k], steps=8)
    err_right = (out - shapes[k]).abs().mean().item()
    err_swapped = (out - shapes[1 - k]).abs().mean().item()
    assert err_right < 0.2 < err_swapped


def test_every_width_builds_and_keeps_the_shape_and_the_older_group_norms():
    # widths whose halves or doubles are not multiples of 8 (5, 6, 12, 20) and odd widths (5, 9) used to fail
    # in GroupNorm or in the time embedding; the widths that worked (1, 2, 4 and multiples of 8) keep the
    # groups their model files were written with: (width, groups at full resolution, at half resolution)
    x, m, mask = torch.zeros(2, 2, 15), torch.zeros(2, 2, 15), torch.ones(2, 1, 15)
    for width, g1, g2 in ((1, 1, 2), (2, 2, 4), (4, 4, 8), (5, 5, 2), (6, 6, 4), (8, 8, 8), (9, 1, 2),
                          (12, 4, 8), (20, 4, 8), (32, 8, 8)):
        net = FlowNet(channels=2, cond_dim=3, width=width)
        assert (net.down1[0].n1.num_groups, net.mid[0].n1.num_groups) == (g1, g2), width
        assert tuple(net(x, torch.zeros(2), m, mask, torch.zeros(2, 3)).shape) == (2, 2, 15)
