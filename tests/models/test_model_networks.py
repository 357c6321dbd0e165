"""Encoders/decoders of ventgen.models.networks: shapes, ranges, upsampling exactness, errors."""

from __future__ import annotations

import pytest
import torch

from ventgen.errors import VentgenTypeError, VentgenValueError
from ventgen.models.networks import LinearUpsample, build_decoder, build_encoder


@pytest.mark.parametrize("shape", [(2, 200), (3, 57), (1, 28, 28), (3, 32, 32), (1, 9, 13)])
def test_shapes_and_sigmoid_range(shape):
    torch.manual_seed(0)
    enc, dec = build_encoder(shape, 6), build_decoder(shape, 6)
    x = torch.rand(4, *shape)
    mu, logvar = enc(x)
    assert mu.shape == (4, 6) and logvar.shape == (4, 6)
    assert torch.isfinite(logvar).all()
    out = dec(mu)
    assert out.shape == (4, *shape)
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize(
    "sizes", [((7,), (14,)), ((5,), (11,)), ((7, 7), (14, 14)), ((3, 4), (7, 9))]
)
def test_linear_upsample_matches_torch(sizes):
    src, dst = sizes
    x = torch.randn(2, 3, *src)
    mode = "linear" if len(src) == 1 else "bilinear"
    ref = torch.nn.functional.interpolate(x, size=dst, mode=mode, align_corners=False)
    torch.testing.assert_close(LinearUpsample(src, dst)(x), ref, atol=1e-5, rtol=1e-5)


def test_custom_channels_and_small_net_learns():
    torch.manual_seed(0)
    enc, dec = (
        build_encoder((2, 40), 4, channels=(4, 8)),
        build_decoder((2, 40), 4, channels=(4, 8)),
    )
    t = torch.linspace(0, 1, 40)
    amp = torch.rand(16, 2, 1)
    x = 0.5 + 0.45 * amp * torch.sin(6.28 * t)  # structured signals, different amplitudes
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], 1e-2)
    losses = []
    for _ in range(40):
        loss = ((dec(enc(x)[0]) - x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


@pytest.mark.parametrize(
    "shape, latent, err, match",
    [
        ((2,), 4, VentgenValueError, "channels, time"),
        ((2, 3, 4, 5), 4, VentgenValueError, "4 dimensions"),
        ((2, 2), 4, VentgenValueError, ">= 4"),
        ((2, 100), 0, VentgenValueError, "latent_dim"),
        ((2, 100), 2.5, VentgenTypeError, "latent_dim"),
        ("ab", 4, VentgenTypeError, "input_shape"),
    ],
)
def test_errors(shape, latent, err, match):
    with pytest.raises(err, match=match):
        build_encoder(shape, latent)
