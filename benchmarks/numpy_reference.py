"""Independent plain-NumPy implementation of photonmc's analog Monte Carlo model.

This module reimplements the analog mode of the photonmc physics model
(docs/physics.md: sections 1, 2, 3, 5 analog, 7) for one straight link

    QuantumDot -> {Fiber, Attenuator, BandpassFilter, LadderMemory}* -> Detector

with nothing but numpy and scipy.special.wofz. It imports nothing from photonmc
on purpose: it serves as

  (a) the "plain numpy implementation of the same model" baseline in the
      throughput benchmarks, and
  (b) an independent cross-check of the JAX engine in statistical tests.

It is written plainly: vectorised numpy over the photons of a chunk of shots,
no numba, no per-photon Python loops except the (sparse) dead-time pass.

API
---
    load_config(path) -> dict
        Read a photonmc TOML config (tomllib), fill in the defaults of
        PARAMS.md and check the valid ranges.
    simulate_numpy(config, shots, seed, chunk_shots=1 << 20) -> dict
        {"bin_edges_ns": (nb+1,) float64,
         "counts": {origin: (nb,) int64},        # histogrammed clicks
         "clicks_total": {origin: int},          # in-window + out-of-window
         "photons_emitted": int,                 # source photons, all shots
         "shots": int}
        origins: "source", "retrieved", "memory_noise", "dark".

Script:  python benchmarks/numpy_reference.py CONFIG.toml --shots N --seed S

Of the photon's spectrum and coherence (docs/physics.md 3.2-3.4) it has the filters'
spectral-overlap transmission and the retrieved light's carrier, not the tabulated
reshaping (dispersive spreading, filtered shapes, the write dip) nor pure dephasing in
the memory: its links are those where none applies (no dispersion, filters much wider
than the line, no light passing a memory unstored).

Modelling choices where docs/physics.md leaves room (kept consistent with the text):
  * Fates are sampled as one categorical draw per photon at every point where
    the photon's future branches (the memory): the photon carries its survival
    probability ("weight") through the passive stages; at a LadderMemory one
    uniform u decides lost-upstream (u >= w), retrieved (u/w < P_r),
    transmitted (P_r <= u/w < P_r + P_t) or lost in the memory (otherwise).
    Survivors continue with weight 1. At the detector u < w * efficiency is a
    click. The marginal probability of every fate is exact.
  * Poisson sources (dark counts, memory noise) are drawn as one Poisson total
    per chunk with shots assigned uniformly; this is the same distribution as
    an independent Poisson draw per shot.
  * Dead time acts on the recorded (jittered) click times, in absolute time
    shot * T_rep + t (the fixed fibre delay is a common offset and drops out).
    A click exactly dead_time_ns after the last registered click is registered.
  * A memory_noise photon that is stored and retrieved by a later memory stays
    memory_noise (only signal light becomes "retrieved"); a retrieved photon
    leaking through a later memory stays "retrieved".
"""

from __future__ import annotations

import argparse
import math
import sys
import time

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore

import numpy as np
from scipy.special import wofz

ORIGINS = ("source", "retrieved", "memory_noise", "dark")
SOURCE, RETRIEVED, MEMORY_NOISE, DARK = range(4)
EXP, GAUSS = 0, 1

C_NM_PER_NS = 2.99792458e8
FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))

# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------

REQUIRED = object()

STAGE_DEFAULTS = {
    "QuantumDot": {
        "rep_rate_mhz": REQUIRED,
        "wavelength_nm": 1550.0,
        "lifetime_ns": REQUIRED,
        "feeding_time_ns": 0.0,
        "mean_photon_number": 1.0,
        "g2": 0.0,
        "detuning_ghz": 0.0,
        "spectral_diffusion_fwhm_ghz": 0.0,
        "dephasing_time_ns": None,
    },
    "Fiber": {
        "length_km": REQUIRED,
        "loss_db_per_km": 0.2,
        "insertion_loss_db": 0.0,
        "group_index": 1.4682,
        "dispersion_ps_per_nm_km": 17.0,
    },
    "Attenuator": {
        "loss_db": REQUIRED,
    },
    "BandpassFilter": {
        "center_ghz": 0.0,
        "fwhm_ghz": REQUIRED,
        "peak_transmission": 1.0,
        "shape": "lorentzian",
    },
    "LadderMemory": {
        "write_time_ns": REQUIRED,
        "input_mode_fwhm_ns": REQUIRED,
        "output_mode_fwhm_ns": REQUIRED,
        "write_efficiency": REQUIRED,
        "read_efficiency": REQUIRED,
        "storage_time_ns": REQUIRED,
        "lifetime_ns": REQUIRED,
        "decay": "gaussian",
        "beat_terms": [],
        "transmission": 1.0,
        "read_noise_photons": 0.0,
        "write_noise_photons": 0.0,
    },
    "Detector": {
        "efficiency": REQUIRED,
        "dark_count_rate_hz": 0.0,
        "jitter_fwhm_ps": 0.0,
        "dead_time_ns": 0.0,
    },
}

TAGGER_DEFAULTS = {
    "bin_width_ps": REQUIRED,
    "window_start_ns": REQUIRED,
    "window_stop_ns": REQUIRED,
    "sync_offset_ns": 0.0,
}

RUN_DEFAULTS = {"mode": "analog", "chunk_shots": 262144}

MIDDLE_STAGES = ("Fiber", "Attenuator", "BandpassFilter", "LadderMemory")


def _fill(table: dict, defaults: dict, where: str) -> dict:
    unknown = set(table) - set(defaults) - {"type", "name"}
    if unknown:
        raise ValueError(f"{where}: unknown parameter(s) {sorted(unknown)}")
    out = {k: v for k, v in table.items() if k in ("type", "name")}
    for key, default in defaults.items():
        if key in table:
            out[key] = table[key]
        elif default is REQUIRED:
            raise ValueError(f"{where}: missing required parameter '{key}'")
        else:
            out[key] = list(default) if isinstance(default, list) else default
    return out


def _check(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise ValueError(f"{where}: {msg}")


def _unit(x) -> bool:
    return 0.0 <= x <= 1.0


def _validate_stage(st: dict, where: str) -> None:
    t = st["type"]
    if t == "QuantumDot":
        _check(st["rep_rate_mhz"] > 0, where, "rep_rate_mhz must be > 0")
        _check(st["wavelength_nm"] > 0, where, "wavelength_nm must be > 0")
        _check(st["lifetime_ns"] > 0, where, "lifetime_ns must be > 0")
        _check(st["feeding_time_ns"] >= 0, where, "feeding_time_ns must be >= 0")
        _check(_unit(st["mean_photon_number"]), where, "mean_photon_number must be in [0, 1]")
        _check(st["g2"] >= 0, where, "g2 must be >= 0")
        _check(
            st["g2"] * st["mean_photon_number"] <= 1, where, "g2 * mean_photon_number must be <= 1"
        )
        _check(
            st["spectral_diffusion_fwhm_ghz"] >= 0,
            where,
            "spectral_diffusion_fwhm_ghz must be >= 0",
        )
        if st["dephasing_time_ns"] is not None:
            _check(st["dephasing_time_ns"] > 0, where, "dephasing_time_ns must be > 0")
    elif t == "Fiber":
        _check(st["length_km"] >= 0, where, "length_km must be >= 0")
        _check(st["loss_db_per_km"] >= 0, where, "loss_db_per_km must be >= 0")
        _check(st["insertion_loss_db"] >= 0, where, "insertion_loss_db must be >= 0")
        _check(st["group_index"] >= 1, where, "group_index must be >= 1")
    elif t == "Attenuator":
        _check(st["loss_db"] >= 0, where, "loss_db must be >= 0")
    elif t == "BandpassFilter":
        _check(st["fwhm_ghz"] > 0, where, "fwhm_ghz must be > 0")
        _check(_unit(st["peak_transmission"]), where, "peak_transmission must be in [0, 1]")
        _check(
            st["shape"] in ("lorentzian", "gaussian"),
            where,
            "shape must be 'lorentzian' or 'gaussian'",
        )
    elif t == "LadderMemory":
        _check(st["input_mode_fwhm_ns"] > 0, where, "input_mode_fwhm_ns must be > 0")
        _check(st["output_mode_fwhm_ns"] > 0, where, "output_mode_fwhm_ns must be > 0")
        _check(_unit(st["write_efficiency"]), where, "write_efficiency must be in [0, 1]")
        _check(_unit(st["read_efficiency"]), where, "read_efficiency must be in [0, 1]")
        _check(st["storage_time_ns"] >= 0, where, "storage_time_ns must be >= 0")
        _check(st["lifetime_ns"] > 0, where, "lifetime_ns must be > 0")
        _check(
            st["decay"] in ("gaussian", "exponential"),
            where,
            "decay must be 'gaussian' or 'exponential'",
        )
        _check(_unit(st["transmission"]), where, "transmission must be in [0, 1]")
        _check(st["read_noise_photons"] >= 0, where, "read_noise_photons must be >= 0")
        _check(st["write_noise_photons"] >= 0, where, "write_noise_photons must be >= 0")
        for term in st["beat_terms"]:
            _check(len(term) == 3, where, "each beat term is [a_k, f_k_ghz, phi_k]")
            _check(term[0] >= 0, where, "beat amplitudes a_k must be >= 0")
        if st["beat_terms"]:
            a, _, phi = np.asarray(st["beat_terms"], dtype=float).T
            norm = abs(1.0 + np.sum(a * np.exp(1j * phi))) ** 2
            _check(norm > 1e-12, where, "beat_terms: |1 + sum a_k exp(i phi_k)|^2 is ~0")
    elif t == "Detector":
        _check(_unit(st["efficiency"]), where, "efficiency must be in [0, 1]")
        _check(st["dark_count_rate_hz"] >= 0, where, "dark_count_rate_hz must be >= 0")
        _check(st["jitter_fwhm_ps"] >= 0, where, "jitter_fwhm_ps must be >= 0")
        _check(st["dead_time_ns"] >= 0, where, "dead_time_ns must be >= 0")


def normalize_config(raw: dict) -> dict:
    """Fill the PARAMS.md defaults into a parsed TOML dict and check ranges."""
    stages_raw = raw.get("stage", [])
    _check(len(stages_raw) >= 2, "config", "a link needs at least a QuantumDot and a Detector")
    stages = []
    for i, table in enumerate(stages_raw):
        t = table.get("type")
        where = f"stage {i} ({table.get('name', t)})"
        _check(t in STAGE_DEFAULTS, where, f"unknown stage type {t!r}")
        st = _fill(table, STAGE_DEFAULTS[t], where)
        st.setdefault("name", f"{t.lower()}{i}")
        _validate_stage(st, where)
        stages.append(st)
    _check(stages[0]["type"] == "QuantumDot", "config", "the first stage must be a QuantumDot")
    _check(stages[-1]["type"] == "Detector", "config", "the last stage must be a Detector")
    for st in stages[1:-1]:
        _check(
            st["type"] in MIDDLE_STAGES,
            "config",
            f"stage type {st['type']} not allowed inside a straight link",
        )

    tagger = _fill(raw.get("tagger", {}), TAGGER_DEFAULTS, "[tagger]")
    _check(tagger["bin_width_ps"] > 0, "[tagger]", "bin_width_ps must be > 0")
    _check(
        tagger["window_stop_ns"] > tagger["window_start_ns"],
        "[tagger]",
        "window_stop_ns must be > window_start_ns",
    )
    nbins = (tagger["window_stop_ns"] - tagger["window_start_ns"]) / (tagger["bin_width_ps"] * 1e-3)
    _check(
        abs(nbins - round(nbins)) <= 1e-6 * max(1.0, nbins),
        "[tagger]",
        "(window_stop - window_start) / bin_width must be a whole number",
    )
    _check(round(nbins) <= 10**7, "[tagger]", "at most 10^7 bins")

    run = dict(RUN_DEFAULTS)
    run.update(raw.get("run", {}))
    return {
        "run": run,
        "stage": stages,
        "tagger": tagger,
        "analysis": dict(raw.get("analysis", {})),
    }


def load_config(path) -> dict:
    """Read a photonmc TOML config and fill the defaults of PARAMS.md."""
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    return normalize_config(raw)


# ---------------------------------------------------------------------------
# Physics helpers
# ---------------------------------------------------------------------------


def _abs2(z):
    return z.real * z.real + z.imag * z.imag


def overlap_exp(t_ref, lifetime, nu, t_w, s):
    """|<phi_in|psi>|^2 for EXP wavepackets (docs/physics.md 3.4, Faddeeva closed form).

    t_ref, lifetime (T1), nu: arrays; t_w: centre of the input mode; s: its
    intensity sigma. Where Im z < 0 (photon starting well before the mode) the
    reflection w(z) = 2 exp(-z^2) - w(-z) keeps every factor in range.
    """
    t_ref, lifetime, nu = np.broadcast_arrays(
        np.asarray(t_ref, float), np.asarray(lifetime, float), np.asarray(nu, float)
    )
    d = t_w - t_ref
    b = 1.0 / (2.0 * lifetime) + 2j * np.pi * nu
    z = 1j * (-d / (2.0 * s) + b * s)
    pref = (s / lifetime) * math.sqrt(math.pi / 2.0)
    out = np.empty(d.shape)
    direct = z.imag >= 0.0
    if np.any(direct):
        dd = d[direct]
        out[direct] = pref[direct] * np.exp(-dd * dd / (2.0 * s * s)) * _abs2(wofz(z[direct]))
    refl = ~direct
    if np.any(refl):
        dd, bb = d[refl], b[refl]
        amp = 2.0 * np.exp(-bb * dd + bb * bb * s * s) - np.exp(-dd * dd / (4.0 * s * s)) * wofz(
            -z[refl]
        )
        out[refl] = pref[refl] * _abs2(amp)
    return np.clip(out, 0.0, 1.0)


def overlap_gauss(t_ref, fwhm, nu, t_w, s):
    """|<phi_in|psi>|^2 for GAUSS wavepackets (elementary Gaussian overlap).

    Both are Gaussian amplitudes with intensity sigmas s (mode) and s2
    (photon); the photon carries a frequency offset nu (GHz):
    O = 2 s s2 / S * exp(-d^2 / (2 S)) * exp(-8 pi^2 nu^2 s^2 s2^2 / S), S = s^2 + s2^2.
    """
    s2 = np.asarray(fwhm, float) * FWHM_TO_SIGMA
    d = t_w - np.asarray(t_ref, float)
    nu = np.asarray(nu, float)
    S = s * s + s2 * s2
    o = (2.0 * s * s2 / S) * np.exp(
        -d * d / (2.0 * S) - 8.0 * np.pi**2 * nu * nu * s * s * s2 * s2 / S
    )
    return np.clip(o, 0.0, 1.0)


def storage_decay(mem: dict) -> float:
    """D(tau) with the optional beat terms (docs/physics.md 3.4)."""
    tau, ts = mem["storage_time_ns"], mem["lifetime_ns"]
    if mem["decay"] == "gaussian":
        D = math.exp(-((tau / ts) ** 2))
    else:
        D = math.exp(-tau / ts)
    if mem["beat_terms"]:
        a, f, phi = np.asarray(mem["beat_terms"], dtype=float).T
        num = abs(1.0 + np.sum(a * np.exp(1j * (2.0 * np.pi * f * tau + phi)))) ** 2
        den = abs(1.0 + np.sum(a * np.exp(1j * phi))) ** 2
        D *= num / den
    return float(D)


# ---------------------------------------------------------------------------
# The batch of wavepackets (struct of arrays)
# ---------------------------------------------------------------------------

FIELDS = ("shot", "kind", "t_ref", "width", "nu", "weight", "origin")


def _select(batch: dict, mask) -> dict:
    idx = np.flatnonzero(mask)  # one nonzero pass for all fields
    return {k: v[idx] for k, v in batch.items()}


def _concat(*batches: dict) -> dict:
    return {k: np.concatenate([b[k] for b in batches]) for k in FIELDS}


def _make_batch(shot, kind, t_ref, width, nu, weight, origin) -> dict:
    n = len(shot)
    return {
        "shot": np.asarray(shot, np.int64),
        "kind": np.full(n, kind, np.int8) if np.isscalar(kind) else np.asarray(kind, np.int8),
        "t_ref": np.broadcast_to(np.asarray(t_ref, float), (n,)).copy(),
        "width": np.broadcast_to(np.asarray(width, float), (n,)).copy(),
        "nu": np.broadcast_to(np.asarray(nu, float), (n,)).copy(),
        "weight": np.broadcast_to(np.asarray(weight, float), (n,)).copy(),
        "origin": np.full(n, origin, np.int8)
        if np.isscalar(origin)
        else np.asarray(origin, np.int8),
    }


def _poisson_events(rng, mean_per_shot: float, nshots: int):
    """Shot indices of a Poisson(mean_per_shot) number of events in each shot.

    Drawn as one Poisson total with uniformly assigned shots: the same law as
    independent per-shot Poisson counts.
    """
    if mean_per_shot <= 0.0 or nshots == 0:
        return np.empty(0, np.int64)
    total = rng.poisson(mean_per_shot * nshots)
    return np.sort(rng.integers(0, nshots, size=total))


# ---------------------------------------------------------------------------
# Stages
# ---------------------------------------------------------------------------


def _emit(rng, qd: dict, nshots: int) -> dict:
    mu, g2 = qd["mean_photon_number"], qd["g2"]
    p2 = g2 * mu * mu / 2.0
    p1 = mu - 2.0 * p2
    u = rng.random(nshots)
    n = (u < p1 + p2).astype(np.int64) + (u < p2)  # 2 with p2, 1 with p1
    shot = np.repeat(np.arange(nshots, dtype=np.int64), n)
    m = len(shot)
    if qd["feeding_time_ns"] > 0:
        t_ref = qd["feeding_time_ns"] * rng.standard_exponential(m)
    else:
        t_ref = np.zeros(m)
    sigma_sd = qd["spectral_diffusion_fwhm_ghz"] * FWHM_TO_SIGMA
    nu = qd["detuning_ghz"] + (sigma_sd * rng.standard_normal(m) if sigma_sd > 0 else 0.0)
    return _make_batch(shot, EXP, t_ref, qd["lifetime_ns"], nu, 1.0, SOURCE)


def _fiber(batch: dict, fb: dict, wavelength_nm: float) -> dict:
    T = 10.0 ** (-(fb["loss_db_per_km"] * fb["length_km"] + fb["insertion_loss_db"]) / 10.0)
    batch["weight"] *= T
    D, L = fb["dispersion_ps_per_nm_km"], fb["length_km"]
    if D != 0.0 and L != 0.0:
        dlambda_nm = -(wavelength_nm**2) * batch["nu"] / C_NM_PER_NS
        batch["t_ref"] += 1e-3 * D * L * dlambda_nm
    return batch


def _attenuator(batch: dict, at: dict) -> dict:
    batch["weight"] *= 10.0 ** (-at["loss_db"] / 10.0)
    return batch


def _bandpass(batch: dict, bp: dict, dephasing_time_ns=None) -> dict:
    """Survival: the overlap of the filter with the wavepacket's own power spectrum
    (docs/physics.md 3.3): an exponential photon's Lorentzian line of FWHM g = 1/(pi T2)
    at its offset, a Gaussian wavepacket's Gaussian spectrum of sigma 1/(4 pi sigma_t).
    The temporal reshaping is not reproduced here (see the module's docstring)."""
    f, c = bp["fwhm_ghz"], bp["center_ghz"]
    dnu = np.abs(batch["nu"] - c)
    is_exp = batch["kind"] == EXP
    width = batch["width"]
    rate = 1.0 / (2.0 * width)  # 1/T2 without dephasing
    if dephasing_time_ns is not None:
        rate = rate + 1.0 / dephasing_time_ns
    g = rate / math.pi  # the exponential photon's Lorentzian FWHM, GHz
    sig_f = 1.0 / (4.0 * math.pi * width * FWHM_TO_SIGMA)  # a Gaussian's spectral sigma
    out = np.empty(len(dnu))
    if bp["shape"] == "lorentzian":
        w = f + g
        out_exp = (f / w) / (1.0 + (2.0 * dnu / w) ** 2)
        z = (dnu + 0.5j * f) / (math.sqrt(2.0) * sig_f)
        out_gauss = math.sqrt(math.pi / 2.0) * (f / (2.0 * sig_f)) * np.real(wofz(z))
    else:
        sigma_filter = f * FWHM_TO_SIGMA
        z = (dnu + 0.5j * g) / (math.sqrt(2.0) * sigma_filter)
        out_exp = np.real(wofz(z))
        big_s = np.sqrt(sigma_filter**2 + sig_f**2)
        out_gauss = sigma_filter / big_s * np.exp(-(dnu**2) / (2.0 * big_s**2))
    out = np.where(is_exp, out_exp, out_gauss)
    batch["weight"] *= bp["peak_transmission"] * out
    return batch


def _memory(rng, batch: dict, mem: dict, nshots: int) -> dict:
    t_w = mem["write_time_ns"]
    tau = mem["storage_time_ns"]
    s_in = mem["input_mode_fwhm_ns"] * FWHM_TO_SIGMA

    # One categorical draw per photon: lost upstream / retrieved / transmitted / lost here.
    u = rng.random(len(batch["shot"]))
    arrived = u < batch["weight"]
    b = _select(batch, arrived)
    v = u[arrived] / b["weight"]  # uniform on [0, 1) given arrival

    O = np.empty(len(v))  # noqa: E741 (docs/physics.md names the overlap O)
    is_exp = b["kind"] == EXP
    if np.any(is_exp):
        O[is_exp] = overlap_exp(b["t_ref"][is_exp], b["width"][is_exp], b["nu"][is_exp], t_w, s_in)
    if np.any(~is_exp):
        O[~is_exp] = overlap_gauss(
            b["t_ref"][~is_exp], b["width"][~is_exp], b["nu"][~is_exp], t_w, s_in
        )
    P_s = mem["write_efficiency"] * O
    P_r = P_s * mem["read_efficiency"] * storage_decay(mem)
    P_t = (1.0 - P_s) * mem["transmission"]

    retrieved = _select(b, v < P_r)
    transmitted = _select(b, (v >= P_r) & (v < P_r + P_t))

    n_r = len(retrieved["shot"])
    retrieved["kind"] = np.full(n_r, GAUSS, np.int8)
    retrieved["t_ref"] = np.full(n_r, t_w + tau)
    retrieved["width"] = np.full(n_r, mem["output_mode_fwhm_ns"])
    retrieved["nu"] = np.zeros(n_r)  # the memory's own carrier (docs/physics.md 3.4)
    retrieved["origin"] = np.where(
        retrieved["origin"] == MEMORY_NOISE, MEMORY_NOISE, RETRIEVED
    ).astype(np.int8)
    retrieved["weight"] = np.ones(n_r)
    transmitted["weight"] = np.ones(len(transmitted["shot"]))

    read_shots = _poisson_events(rng, mem["read_noise_photons"], nshots)
    write_shots = _poisson_events(rng, mem["write_noise_photons"], nshots)
    read_noise = _make_batch(
        read_shots, GAUSS, t_w + tau, mem["output_mode_fwhm_ns"], 0.0, 1.0, MEMORY_NOISE
    )
    write_noise = _make_batch(
        write_shots, GAUSS, t_w, mem["input_mode_fwhm_ns"], 0.0, 1.0, MEMORY_NOISE
    )
    return _concat(transmitted, retrieved, read_noise, write_noise)


def _detect(rng, batch: dict, det: dict):
    """Clicks of the wavepackets: (shot, retarded time in ns, origin)."""
    u = rng.random(len(batch["shot"]))
    b = _select(batch, u < batch["weight"] * det["efficiency"])
    n = len(b["shot"])
    t = b["t_ref"].copy()
    is_exp = b["kind"] == EXP
    n_exp = int(np.count_nonzero(is_exp))
    t[is_exp] += b["width"][is_exp] * rng.standard_exponential(n_exp)
    t[~is_exp] += b["width"][~is_exp] * FWHM_TO_SIGMA * rng.standard_normal(n - n_exp)
    sigma_j = det["jitter_fwhm_ps"] * 1e-3 * FWHM_TO_SIGMA
    if sigma_j > 0:
        t += sigma_j * rng.standard_normal(n)
    return b["shot"], t, b["origin"]


def _dead_time_keep(abs_t: np.ndarray, dead: float) -> np.ndarray:
    """Indices of registered clicks, non-paralysable dead time, detector live at start."""
    n = len(abs_t)
    if n == 0:
        return np.empty(0, np.int64)
    order = np.argsort(abs_t, kind="stable")
    ts = abs_t[order]
    # next candidate after a registered click at ts[i]: first click at >= ts[i] + dead
    nxt = np.maximum(np.searchsorted(ts, ts + dead, side="left"), np.arange(1, n + 1)).tolist()
    keep = []
    i = 0
    while i < n:
        keep.append(i)
        i = nxt[i]
    return order[np.asarray(keep, np.int64)]


# ---------------------------------------------------------------------------
# Simulation
# ---------------------------------------------------------------------------


def _simulate_chunk(rng, stages, tagger, nshots: int):
    qd, det = stages[0], stages[-1]
    t_rep = 1e3 / qd["rep_rate_mhz"]
    batch = _emit(rng, qd, nshots)
    n_emitted = len(batch["shot"])

    for st in stages[1:-1]:
        t = st["type"]
        if t == "Fiber":
            batch = _fiber(batch, st, qd["wavelength_nm"])
        elif t == "Attenuator":
            batch = _attenuator(batch, st)
        elif t == "BandpassFilter":
            batch = _bandpass(batch, st)
        elif t == "LadderMemory":
            batch = _memory(rng, batch, st, nshots)

    shot, t_ret, origin = _detect(rng, batch, det)
    sync = tagger["sync_offset_ns"]
    t_hist = t_ret - sync

    # dark counts (histogram time)
    ws = tagger["window_start_ns"]
    R = det["dark_count_rate_hz"]
    dead = det["dead_time_ns"]
    # one shot period per shot, with or without dead time: shots tile the time line once,
    # a stream of rate R in absolute time (docs/physics.md 3.5)
    span = t_rep
    d_shot = _poisson_events(rng, R * 1e-9 * span, nshots)
    d_t = ws + span * rng.random(len(d_shot))

    shot = np.concatenate([shot, d_shot])
    t_hist = np.concatenate([t_hist, d_t])
    origin = np.concatenate([origin, np.full(len(d_shot), DARK, np.int8)])

    if dead > 0:
        keep = _dead_time_keep(shot * t_rep + (t_hist + sync), dead)
        t_hist, origin = t_hist[keep], origin[keep]
    return n_emitted, t_hist, origin


def simulate_numpy(config: dict, shots: int, seed: int, chunk_shots: int = 1 << 20) -> dict:
    """Analog Monte Carlo of a straight photonmc link in plain numpy.

    config: as returned by load_config, or a raw parsed TOML dict.
    Shots are processed in chunks of chunk_shots consecutive shots; with dead
    time each chunk starts with a live detector (docs/physics.md 3.5).
    """
    config = normalize_config(config)  # idempotent: accepts raw or loaded configs
    stages, tagger = config["stage"], config["tagger"]
    shots, chunk_shots = int(shots), int(chunk_shots)
    if shots < 0 or chunk_shots <= 0:
        raise ValueError("shots must be >= 0 and chunk_shots > 0")

    ws = tagger["window_start_ns"]
    bw = tagger["bin_width_ps"] * 1e-3
    nb = int(round((tagger["window_stop_ns"] - ws) / bw))
    edges = ws + bw * np.arange(nb + 1, dtype=np.float64)

    rng = np.random.default_rng(seed)
    counts = np.zeros((len(ORIGINS), nb), np.int64)
    totals = np.zeros(len(ORIGINS), np.int64)
    emitted = 0
    done = 0
    while done < shots:
        n = min(chunk_shots, shots - done)
        n_emitted, t_hist, origin = _simulate_chunk(rng, stages, tagger, n)
        emitted += n_emitted
        totals += np.bincount(origin, minlength=len(ORIGINS))
        idx = np.floor((t_hist - ws) / bw)
        inside = (idx >= 0) & (idx < nb)
        idx, org = idx[inside].astype(np.int64), origin[inside]
        for k in range(len(ORIGINS)):
            counts[k] += np.bincount(idx[org == k], minlength=nb)
        done += n

    return {
        "bin_edges_ns": edges,
        "counts": {name: counts[k] for k, name in enumerate(ORIGINS)},
        "clicks_total": {name: int(totals[k]) for k, name in enumerate(ORIGINS)},
        "photons_emitted": int(emitted),
        "shots": shots,
    }


# ---------------------------------------------------------------------------
# Script
# ---------------------------------------------------------------------------


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Plain-numpy analog Monte Carlo of a photonmc link.")
    p.add_argument("config", help="TOML config (photonmc layout)")
    p.add_argument("--shots", type=int, default=None, help="number of shots (default: [run] shots)")
    p.add_argument(
        "--seed", type=int, default=None, help="PCG64 seed (default: [run] seed, else 0)"
    )
    p.add_argument(
        "--chunk-shots",
        type=int,
        default=None,
        help="shots per chunk (default: [run] chunk_shots = 262144)",
    )
    a = p.parse_args(argv)

    cfg = load_config(a.config)
    shots = a.shots if a.shots is not None else cfg["run"].get("shots")
    if shots is None:
        p.error("--shots not given and no [run] shots in the config")
    seed = a.seed if a.seed is not None else cfg["run"].get("seed", 0)
    chunk = a.chunk_shots if a.chunk_shots is not None else cfg["run"]["chunk_shots"]

    t0 = time.perf_counter()
    res = simulate_numpy(cfg, shots, seed, chunk)
    dt = time.perf_counter() - t0

    print(f"shots           {res['shots']}")
    print(f"seed            {seed}   chunk_shots {chunk}")
    print(f"wall time       {dt:.3f} s")
    print(f"shots/s         {res['shots'] / dt:.4g}")
    print(f"photons/s       {res['photons_emitted'] / dt:.4g}")
    print(f"photons emitted {res['photons_emitted']}")
    print(f"{'origin':<14}{'in window':>14}{'total':>14}{'total/shot':>14}")
    for name in ORIGINS:
        inw = int(res["counts"][name].sum())
        tot = res["clicks_total"][name]
        print(f"{name:<14}{inw:>14}{tot:>14}{tot / max(res['shots'], 1):>14.6g}")
    all_in = sum(int(c.sum()) for c in res["counts"].values())
    all_tot = sum(res["clicks_total"].values())
    print(f"{'all':<14}{all_in:>14}{all_tot:>14}{all_tot / max(res['shots'], 1):>14.6g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
