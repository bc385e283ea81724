"""The photon batch that flows through a link (docs/physics.md section 2).

A batch is a struct of arrays over two axes, `(photon, branch)`:

- **photon**: one physical wavepacket (a source photon, a noise photon). In analog mode
  `shot` gives the shot (within the chunk) that made it; in expected mode a photon is
  a quadrature node of the latent variables, or a noise mode, carrying its weight.
- **branch**: the mutually exclusive fates of that photon that are still alive (for
  example *retrieved from the memory* and *leaked through it*). A photon ends in at
  most one branch; `weight` is the probability that the photon exists here in that
  branch, so the weights along the branch axis add up to at most 1. The detector
  resolves them with one categorical draw (analog) or sums them (expected).

Stages are elementwise over both axes, except the memory, which doubles the branch
axis and appends noise photons.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

#: wavepacket kinds
EXP = 0
GAUSS = 1

#: origins, in the order of the histogram's origin axis
ORIGINS = ("source", "retrieved", "memory_noise", "dark")
SOURCE, RETRIEVED, MEMORY_NOISE, DARK = range(4)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Batch:
    """Wavepackets. `shot` has shape (photons,); every other field (photons, branches).

    shot: shot index within the chunk (int32; 0 in expected mode). kind: EXP or GAUSS
    (int8). t_ref_ns: EXP start or GAUSS centre, in retarded time. width_ns: EXP lifetime
    T1 or GAUSS intensity FWHM. nu_ghz: centre-frequency offset from the nominal line.
    weight: probability that this wavepacket exists here. origin: index into ORIGINS.
    path: which optical path of the link the wavepacket is on (0: the trunk from the
    source; each beam splitter opens two more, see `Link.paths`). law: -1 for the closed
    form of its kind, else the index of its tabulated detection-time law in the
    context (`photonmc.laws`), with law_u, law_v its fractional position on that law's
    grid; `kind` and `width_ns` still describe the photon's line (its spectrum), which
    filters and memories need.

    `kind`, `origin`, `path` and `law` are numpy arrays: they follow from the link's structure, not
    from random draws or parameters, so stages may branch on them before tracing (the
    detector integrates exponential and Gaussian wavepackets separately, the memory
    skips the overlap formula of a kind that is absent).
    """

    shot: jax.Array
    kind: jax.Array
    t_ref_ns: jax.Array
    width_ns: jax.Array
    nu_ghz: jax.Array
    weight: jax.Array
    origin: np.ndarray
    path: np.ndarray
    law: np.ndarray
    law_u: jax.Array
    law_v: jax.Array

    @property
    def shape(self) -> tuple[int, int]:
        return self.weight.shape

    def replace(self, **changes) -> Batch:
        return dataclasses.replace(self, **changes)

    def concat_photons(self, other: Batch) -> Batch:
        """Append the photons of `other` (with as many branches) to this batch."""
        return self.replace(**{n: _concat(getattr(self, n), getattr(other, n), 0) for n in _FIELDS})

    def concat_branches(self, other: Batch) -> Batch:
        """Append the branches of `other` (the same photons) to this batch."""
        return self.replace(
            **{n: _concat(getattr(self, n), getattr(other, n), 1) for n in _FIELDS if n != "shot"}
        )

    def pad_branches(self, n_branches: int) -> Batch:
        """Pad the branch axis to `n_branches` with empty (weight 0) copies."""
        extra = n_branches - self.shape[1]
        if extra <= 0:
            return self
        pad = ((0, 0), (0, extra))
        fields = {
            n: (np if _static(getattr(self, n)) else jnp).pad(getattr(self, n), pad, mode="edge")
            for n in _FIELDS
            if n not in ("shot", "weight")
        }
        return self.replace(weight=jnp.pad(self.weight, pad), **fields)


_FIELDS = tuple(f.name for f in dataclasses.fields(Batch))


def _static(x) -> bool:
    return isinstance(x, np.ndarray)


def _concat(a, b, axis: int):
    """Concatenate, staying numpy (static) when both parts are numpy."""
    if _static(a) and _static(b):
        return np.concatenate([a, b], axis=axis)
    return jnp.concatenate([a, b], axis=axis)


def wavepackets(
    n_photons: int,
    *,
    shot=0,
    kind: int,
    t_ref_ns,
    width_ns,
    nu_ghz,
    weight,
    origin: int,
    path: int = 0,
    dtype=None,
) -> Batch:
    """A one-branch batch of `n_photons`, each field broadcast from a scalar or array."""
    dtype = dtype or jnp.result_type(float)
    shape = (n_photons, 1)

    def full(x, dt):
        x = jnp.asarray(x, dt)
        return jnp.broadcast_to(x.reshape(x.shape + (1,) * (x.ndim == 1)), shape)

    return Batch(
        shot=jnp.broadcast_to(jnp.asarray(shot, jnp.int32), (n_photons,)),
        kind=np.full(shape, kind, np.int8),
        t_ref_ns=full(t_ref_ns, dtype),
        width_ns=full(width_ns, dtype),
        nu_ghz=full(nu_ghz, dtype),
        weight=full(weight, dtype),
        origin=np.full(shape, origin, np.int8),
        path=np.full(shape, path, np.int16),
        law=np.full(shape, -1, np.int16),
        law_u=jnp.zeros(shape, dtype),
        law_v=jnp.zeros(shape, dtype),
    )
