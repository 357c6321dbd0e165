"""The Hierarchical Topological VAE as a torch module, and its losses (paper eq. 4-10).

One training step for a batch ``x`` (values in [0, 1]):

1. ``(mu_0, logvar_0) = encoder(x)``, ``z_0 = mu_0 + exp(logvar_0 / 2) * eps`` (``mu_0`` in eval mode);
2. ``mu_1`` = nearest code of S_1 to ``z_0``; ``mu_i`` = parent of ``mu_(i-1)`` in S_i (eq. 4);
3. ``z_i = mu_i + sigma_i * eps_i`` with ``sigma_i`` from the lattice neighbours and ``rho`` (eq. 5);
4. all M+1 latents ``z_0 .. z_M`` are decoded in ONE decoder call (concatenated on the batch axis);
5. losses, each returned separately (per-sample sums over pixels / latent dimensions, batch means):
   ``rec`` = sum_i ||x'_i - x||^2 (eq. 8), ``hier`` = sum_i ||z_i - z_(i-1)||^2 (eq. 7), ``topo`` = sum_i
   sum_(e in neigh(mu_i)) ||mu_i - e||^2 (eq. 9), ``must_link`` = mean over linked pairs of
   d_level(a, b) * ||z_a - z_b||^2 (eq. 10), ``kl`` (optional, weight 0 by default: the paper has none).

Gaussian codes (``covariance="full"`` or ``"diagonal"``, see :mod:`ventgen.models.som`): step 2 assigns
by likelihood under each code's own covariance, estimated from the encodings each code discretises.

Autoencoder warm-up (``warmup_epochs`` > 0): during the first epochs only ``z_0`` is decoded and the loss
is its reconstruction (and the optional KL term); the encodings of the last warm-up epoch are kept, and
:meth:`HTVAEModule.end_epoch` then places every map on them (:meth:`SOMStack.init_from`) before the
full loss starts.

sigma is computed from detached codes: the noise scale is a function of the map, not a path by which the
reconstruction loss could pull neighbouring codes together. Gradients reach the codes through ``mu_i`` in
``z_i`` (reparametrisation), the hierarchy and the topology terms.

Examples
--------
>>> import torch
>>> m = HTVAEModule((2, 64), maps=[(4, 4), (2, 2)], latent_dim=4, seed=0)
>>> out = m(torch.rand(8, 2, 64))
>>> sorted(k for k in out if k in ("loss", "rec", "hier", "topo", "must_link", "kl"))
['hier', 'kl', 'loss', 'must_link', 'rec', 'topo']
>>> tuple(out["x_rec"].shape)
(3, 8, 2, 64)
"""

from __future__ import annotations

import torch
from torch import nn

from .networks import build_decoder, build_encoder, check_input_shape
from .som import SOMStack

__all__ = ["HTVAEModule"]


class HTVAEModule(nn.Module):
    """Encoder, decoder and SOM stack of the HTVAE.

    Parameters
    ----------
    input_shape : tuple
        (C, T) or (C, H, W).
    maps : list of (h, w)
        Lattice sizes, S_1 (deepest, largest) first.
    latent_dim : int
        Latent dimension L.
    rho, sigma_init : float
        See :class:`ventgen.models.som.SOMStack`.
    channels : tuple of 2 ints, optional
        Conv widths (default from :func:`ventgen.models.networks.default_channels`).
    kl_weight : float
        Weight of an optional KL(q(z|x) || N(0, I)) term; 0 (the paper) by default.
    must_link_weight : float
        Weight of the must-link term (eq. 10).
    must_link_relative : bool
        Divide the must-link term by the batch's mean squared pairwise distance of encodings (a
        scale-free variant; eq. 10 as printed can be lowered by shrinking the whole latent space).
    sample_posterior : bool
        Draw z_0 from q(z|x) during training (paper); False uses mu_0 (a deterministic encoder).
    topology_weight, hierarchy_weight : float
        Weights of ``topo`` and ``hier`` in ``loss`` (1 and 1: the paper's eq. 7-9 summed as printed).
    reconstruction_weights : sequence of M+1 floats, optional
        Weight of the reconstruction of each level in ``loss``, level 0 (``z_0``) first; None sums them
        with weight 1 (eq. 8). ``rec`` is always reported unweighted.
    reconstruction_loss : {"squared", "absolute"}
        Per-value error of the reconstruction term: squared (eq. 8, a Gaussian likelihood whose optimum
        is the conditional mean) or absolute (a Laplace likelihood whose optimum is the conditional
        median, which keeps an edge sharp where its timing varies).
    covariance : {"lattice", "diagonal", "full"}
        The paper's codes (nearest code, sigma from the lattice) or Gaussian codes with an estimated
        covariance each, assigned by likelihood.
    warmup_epochs : int
        Epochs of autoencoder warm-up before the maps are placed on the encodings and trained.
    stored_upper : bool
        Room for upper maps rebuilt after training (:mod:`ventgen.models.upper`; Gaussian codes only).
    seed : int, optional
        Seed of the weight and code initialisation (private generators; global RNG untouched).
    """

    #: encodings kept from the last warm-up epoch to place the maps on
    RESERVOIR = 16384

    def __init__(
        self,
        input_shape,
        maps,
        latent_dim: int = 16,
        rho: float = 2.0,
        sigma_init: float = 1.0,
        channels=None,
        kl_weight: float = 0.0,
        must_link_weight: float = 1.0,
        must_link_relative: bool = False,
        sample_posterior: bool = True,
        topology_weight: float = 1.0,
        hierarchy_weight: float = 1.0,
        reconstruction_weights=None,
        reconstruction_loss: str = "squared",
        covariance: str = "lattice",
        parents: str = "likelihood",
        warmup_epochs: int = 0,
        stored_upper: bool = False,
        seed=None,
    ):
        super().__init__()
        self.input_shape = check_input_shape(input_shape)
        self.kl_weight = float(kl_weight)
        self.must_link_weight = float(must_link_weight)
        self.must_link_relative = bool(must_link_relative)
        self.sample_posterior = bool(sample_posterior)
        self.topology_weight = float(topology_weight)
        self.hierarchy_weight = float(hierarchy_weight)
        if reconstruction_loss not in ("squared", "absolute"):
            raise ValueError(f"reconstruction_loss must be 'squared' or 'absolute', got {reconstruction_loss!r}")
        self.reconstruction_loss = reconstruction_loss
        self.reconstruction_weights = (
            None if reconstruction_weights is None else tuple(float(w) for w in reconstruction_weights)
        )
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(int(seed))
            self.encoder = build_encoder(self.input_shape, latent_dim, channels=channels)
            self.decoder = build_decoder(self.input_shape, latent_dim, channels=channels)
        self.som = SOMStack(
            maps,
            latent_dim,
            sigma_init=sigma_init,
            rho=rho,
            seed=None if seed is None else int(seed) + 1,
            covariance=covariance,
            parents=parents,
            stored_upper=stored_upper,
        )
        self.latent_dim = int(latent_dim)
        self.warmup_epochs = int(warmup_epochs)
        self._reservoir: list[torch.Tensor] = []
        if self.warmup_epochs > 0:
            # saved with the weights: a resumed training knows whether its maps were placed yet
            self.register_buffer("maps_placed", torch.zeros((), dtype=torch.bool))

    @property
    def n_levels(self) -> int:
        return self.som.n_levels

    @property
    def warming_up(self) -> bool:
        """True while the autoencoder warms up (the maps are not placed yet)."""
        return self.warmup_epochs > 0 and not bool(self.maps_placed)

    def param_groups(self, lr: float, code_lr_scale: float = 1.0) -> list[dict]:
        """Optimizer groups: every parameter but the SOM codes, then the codes at ``lr * code_lr_scale``."""
        codes = self.som.codes
        rest = [p for p in self.parameters() if p is not codes]
        return [{"params": rest}, {"params": [codes], "lr": lr * float(code_lr_scale)}]

    @torch.no_grad()
    def end_epoch(self, epoch: int, optimizer=None) -> bool:
        """Called after training epoch ``epoch`` (1-based): ends the warm-up after ``warmup_epochs``
        by placing every map on the kept encodings (the codes' moments in ``optimizer`` cleared).
        Returns True when it placed the maps."""
        if not self.warming_up:
            return False
        if epoch == self.warmup_epochs - 1:
            self._reservoir = []  # keep only the last warm-up epoch's encodings
        if epoch < self.warmup_epochs or not self._reservoir:
            return False
        self.som.init_from(torch.cat(self._reservoir))
        self._reservoir = []
        if optimizer is not None:
            optimizer.state.pop(self.som.codes, None)
        self.maps_placed.fill_(True)
        return True

    def forward(
        self,
        x: torch.Tensor,
        pairs: tuple[torch.Tensor, torch.Tensor] | None = None,
        must_link_level: int = 1,
        generator: torch.Generator | None = None,
        mask: torch.Tensor | None = None,
    ) -> dict:
        """One pass of eq. 4-10 on a batch.

        Parameters
        ----------
        x : tensor (n, *input_shape)
            Scaled to [0, 1].
        pairs : (xa, xb), optional
            Inputs of must-link pairs (p, *input_shape) each; encoded in the same encoder call as ``x``.
        must_link_level : int
            Level i whose lattice distance d_i weighs the pair distance.
        generator : torch.Generator, optional
            Source of the reparametrisation noise (on x's device).
        mask : tensor, optional
            Weights broadcastable to ``x`` (e.g. (n, 1, T) with 1 on a cycle's samples and 0 on its
            padding): the reconstruction errors are multiplied by it before summing.

        Returns
        -------
        dict
            ``loss`` (scalar, weighted sum), ``rec``, ``hier``, ``topo``, ``must_link``, ``kl`` (scalars,
            unweighted), ``rec_levels`` (M+1,), ``x_rec`` (M+1, n, *input_shape), ``z`` (M+1, n, L),
            ``mu0``, ``logvar0``, ``idx`` (list of M (n,) node indices), ``parents`` (list of M-1).
        """
        n = x.shape[0]
        z_all, mu0, logvar0 = self._encode_all(x if pairs is None else torch.cat([x, pairs[0], pairs[1]]), generator)
        z0, mu0, logvar0 = z_all[:n], mu0[:n], logvar0[:n]
        if self.training and self.warming_up:
            return self._warmup_forward(x, z0, mu0, logvar0, mask)

        z_maps, idx, topo, parents = self.som.step(z0, generator=generator, sample=self.training)
        z = torch.cat([z0.unsqueeze(0), z_maps])  # (M+1, n, L)
        hier = ((z[1:] - z[:-1]) ** 2).sum(-1).sum(0).mean()
        x_rec, rec_levels, rec, rec_loss = self._reconstruction(x, z, mask)
        topo = topo.mean()
        loss = rec_loss + self.hierarchy_weight * hier + self.topology_weight * topo
        if self.kl_weight > 0:
            kl = (-0.5 * (1 + logvar0 - mu0**2 - logvar0.exp()).sum(1)).mean()
            loss = loss + self.kl_weight * kl
        else:
            kl = torch.zeros((), device=x.device)
        must_link = self._must_link(z_all, z0, n, pairs, parents, must_link_level)
        if pairs is not None:
            loss = loss + self.must_link_weight * must_link
        return {
            "loss": loss,
            "rec": rec,
            "hier": hier,
            "topo": topo,
            "must_link": must_link,
            "kl": kl,
            "rec_levels": rec_levels,
            "x_rec": x_rec,
            "z": z,
            "mu0": mu0,
            "logvar0": logvar0,
            "idx": idx,
            "parents": parents,
        }

    def _warmup_forward(self, x, z0, mu0, logvar0, mask) -> dict:
        """A warm-up step: the reconstruction of ``z_0`` alone (and the KL term); the encodings are kept."""
        self._reservoir.append(mu0.detach())
        kept = sum(r.shape[0] for r in self._reservoir)
        while kept - self._reservoir[0].shape[0] >= self.RESERVOIR:
            kept -= self._reservoir.pop(0).shape[0]
        x_rec, rec_levels, rec, _ = self._reconstruction(x, z0.unsqueeze(0), mask)
        zero = torch.zeros((), device=x.device)
        kl = (-0.5 * (1 + logvar0 - mu0**2 - logvar0.exp()).sum(1)).mean() if self.kl_weight > 0 else zero
        with torch.no_grad():
            parents = self.som.parents()
            idx = self.som.chain(z0, parents)
        return {"loss": rec + self.kl_weight * kl, "rec": rec, "hier": zero, "topo": zero, "must_link": zero,
                "kl": kl, "rec_levels": rec_levels, "x_rec": x_rec, "z": z0.unsqueeze(0),
                "mu0": mu0, "logvar0": logvar0, "idx": idx, "parents": parents}

    def _encode_all(self, inp: torch.Tensor, generator):
        """``(z, mu, logvar)`` of a batch: z drawn from q(z|x) in training (paper), else mu."""
        mu_all, logvar_all = self.encoder(inp)
        if self.training and self.sample_posterior:
            eps = torch.randn(mu_all.shape, device=mu_all.device, dtype=mu_all.dtype, generator=generator)
            return mu_all + torch.exp(0.5 * logvar_all) * eps, mu_all, logvar_all
        return mu_all, mu_all, logvar_all

    def _reconstruction(self, x: torch.Tensor, z: torch.Tensor, mask):
        """Eq. 8: ``(x_rec, rec_levels, rec, rec_loss)``, all M+1 latents decoded in one decoder call."""
        x_rec = self.decoder(z.reshape(-1, self.latent_dim)).view(z.shape[0], *x.shape)
        diff = x_rec - x.unsqueeze(0)
        err = diff**2 if self.reconstruction_loss == "squared" else diff.abs()
        if mask is not None:
            err = err * mask.unsqueeze(0)
        rec_levels = err.flatten(2).sum(2).mean(1)  # (M+1,)
        rec = rec_levels.sum()
        if self.reconstruction_weights is None:
            return x_rec, rec_levels, rec, rec
        return x_rec, rec_levels, rec, (rec_levels * rec_levels.new_tensor(self.reconstruction_weights)).sum()

    def _must_link(self, z_all, z0, n: int, pairs, parents, level: int) -> torch.Tensor:
        """Eq. 10: mean over the linked pairs of d_level(a, b) * ||z_a - z_b||^2 (0 without pairs)."""
        if pairs is None or pairs[0].shape[0] == 0:
            return torch.zeros((), device=z0.device)
        p = pairs[0].shape[0]
        za, zb = z_all[n : n + p], z_all[n + p :]
        ia = self.som.chain(za, parents)[level - 1]
        ib = self.som.chain(zb, parents)[level - 1]
        d = self.som.lattice_distance(level, ia, ib).to(za.dtype)
        must_link = (d * ((za - zb) ** 2).sum(1)).mean()
        if self.must_link_relative:
            # scale-free variant: divide by the mean squared distance between the batch's encodings
            # (with gradient), so that shrinking the whole latent space no longer satisfies it
            spread = ((z0 - z0.roll(1, 0)) ** 2).sum(1).mean().clamp_min(1e-8)
            must_link = must_link / spread
        return must_link

    @torch.no_grad()
    def encode_chain(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Deterministic encoding: ``(mu_0, [node index at each level])``."""
        mu0, _ = self.encoder(x)
        return mu0, self.som.chain(mu0)
