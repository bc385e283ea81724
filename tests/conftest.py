"""Shared fixtures: small links whose compile and run stay fast on 2 cores."""

from __future__ import annotations

import jax
import pytest

import photonmc as pmc
from photonmc import compile_cache


def has_gpu() -> bool:
    try:
        return any(d.platform == "gpu" for d in jax.devices())
    except RuntimeError:
        return False


def pytest_collection_modifyitems(config, items):
    if has_gpu():
        return
    skip = pytest.mark.skip(reason="needs a GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="module")
def _release_programs():
    """After each test module, the compiled programs are released if the process holds
    more than half its limit of memory maps (`compile_cache.release_if_crowded`): the
    suite compiles some twenty thousand programs in one process, a few maps each, and
    not every test goes through `simulate`, which checks the same."""
    yield
    compile_cache.release_if_crowded()


def memory_link(**overrides) -> pmc.Link:
    """A QD -> fibre -> memory -> attenuator -> detector link with noise and darks."""
    p = dict(
        mu=0.5,
        lifetime=0.6,
        feeding=0.05,
        sd=0.5,
        storage=1.0,
        jitter=50.0,
        dark=2e4,
        dead=0.0,
        read_noise=0.01,
        write_noise=0.005,
    )
    p.update(overrides)
    return pmc.Link(
        [
            pmc.QuantumDot(
                rep_rate_mhz=80.0,
                lifetime_ns=p["lifetime"],
                wavelength_nm=1529.3,
                feeding_time_ns=p["feeding"],
                mean_photon_number=p["mu"],
                spectral_diffusion_fwhm_ghz=p["sd"],
            ),
            pmc.Fiber(length_km=1.0),
            pmc.LadderMemory(
                write_time_ns=0.9,
                input_mode_fwhm_ns=1.0,
                output_mode_fwhm_ns=0.8,
                write_efficiency=0.6,
                read_efficiency=0.7,
                storage_time_ns=p["storage"],
                lifetime_ns=1.1,
                transmission=0.9,
                read_noise_photons=p["read_noise"],
                write_noise_photons=p["write_noise"],
            ),
            pmc.Attenuator(loss_db=1.0),
            pmc.Detector(
                efficiency=0.8,
                dark_count_rate_hz=p["dark"],
                jitter_fwhm_ps=p["jitter"],
                dead_time_ns=p["dead"],
            ),
        ],
        tagger=pmc.TimeTagger(bin_width_ps=50.0, window_start_ns=-2.0, window_stop_ns=8.0),
    )


def fiber_link(**overrides) -> pmc.Link:
    """A QD -> fibre -> attenuator -> filter -> detector link without memory."""
    p = dict(
        mu=0.8,
        lifetime=0.6,
        feeding=0.0,
        jitter=0.0,
        dark=0.0,
        dead=0.0,
        g2=0.0,
        sd=0.0,
        bin_ps=20.0,
        start=-1.0,
        stop=9.0,
        length=10.0,
        filter_ghz=20.0,
    )
    p.update(overrides)
    return pmc.Link(
        [
            pmc.QuantumDot(
                rep_rate_mhz=80.0,
                lifetime_ns=p["lifetime"],
                feeding_time_ns=p["feeding"],
                mean_photon_number=p["mu"],
                g2=p["g2"],
                spectral_diffusion_fwhm_ghz=p["sd"],
            ),
            pmc.Fiber(length_km=p["length"], insertion_loss_db=0.5),
            pmc.Attenuator(loss_db=3.0),
            pmc.BandpassFilter(fwhm_ghz=p["filter_ghz"], peak_transmission=0.9),
            pmc.Detector(
                efficiency=0.85,
                dark_count_rate_hz=p["dark"],
                jitter_fwhm_ps=p["jitter"],
                dead_time_ns=p["dead"],
            ),
        ],
        tagger=pmc.TimeTagger(
            bin_width_ps=p["bin_ps"], window_start_ns=p["start"], window_stop_ns=p["stop"]
        ),
    )
