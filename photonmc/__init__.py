"""photonmc: Monte Carlo of single photons through a quantum network link.

A quantum-dot source, optical fibre, an ORCA-type ladder quantum memory and
single-photon detectors with a time tagger, as vectorised JAX kernels, in an analog
mode (realistic clicks) and an expected mode (smooth expected histograms, for
gradients). The physics is specified in docs/physics.md; units are in every field's name.
"""

import importlib
import sys
import types
from typing import TYPE_CHECKING

from photonmc._version import __version__ as __version__

#: Where each public name lives; imported on first use, so that `import photonmc.kernels`
#: (or any one module) does not pull in the fit machinery (optax) and the files (h5py).
_PUBLIC = {
    "ORIGINS": "photonmc.batch",
    "clear_caches": "photonmc.compile_cache",
    "use_cpu_cores": "photonmc.distributed",
    "FitResult": "photonmc.fit",
    "fit": "photonmc.fit",
    "memory_report": "photonmc.memory_report",
    "MemoryReport": "photonmc.memory_report",
    "EfficiencyCurve": "photonmc.io.datasets",
    "HistogramData": "photonmc.io.datasets",
    "Link": "photonmc.link",
    "Estimate": "photonmc.observables",
    "OptimizeResult": "photonmc.optimize",
    "optimize": "photonmc.optimize",
    "DetectorCounts": "photonmc.result",
    "Result": "photonmc.result",
    "expected_counts": "photonmc.simulation",
    "expected_counts_all": "photonmc.simulation",
    "simulate": "photonmc.simulation",
    "Attenuator": "photonmc.stages",
    "BandpassFilter": "photonmc.stages",
    "BeamSplitter": "photonmc.stages",
    "Detector": "photonmc.stages",
    "Fiber": "photonmc.stages",
    "HOMInterferometer": "photonmc.stages",
    "LadderMemory": "photonmc.stages",
    "OrcaMemory": "photonmc.stages",
    "QuantumDot": "photonmc.stages",
    "TimeTagger": "photonmc.stages",
    "SweepResult": "photonmc.sweep",
    "sweep": "photonmc.sweep",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    try:  # a submodule, as `photonmc.stages` was before it was imported
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})


class _Package(types.ModuleType):
    """photonmc itself: `fit`, `optimize` and `sweep` stay the functions even after their
    submodules are imported (the import system would bind the modules in their place)."""

    def __setattr__(self, name: str, value) -> None:
        if name in _PUBLIC and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


if TYPE_CHECKING:  # what editors and type checkers see
    from photonmc.batch import ORIGINS as ORIGINS
    from photonmc.compile_cache import clear_caches as clear_caches
    from photonmc.distributed import use_cpu_cores as use_cpu_cores
    from photonmc.fit import FitResult as FitResult
    from photonmc.fit import fit as fit
    from photonmc.io.datasets import EfficiencyCurve as EfficiencyCurve
    from photonmc.io.datasets import HistogramData as HistogramData
    from photonmc.link import Link as Link
    from photonmc.memory_report import MemoryReport as MemoryReport
    from photonmc.memory_report import memory_report as memory_report
    from photonmc.observables import Estimate as Estimate
    from photonmc.optimize import OptimizeResult as OptimizeResult
    from photonmc.optimize import optimize as optimize
    from photonmc.result import DetectorCounts as DetectorCounts
    from photonmc.result import Result as Result
    from photonmc.simulation import expected_counts as expected_counts
    from photonmc.simulation import expected_counts_all as expected_counts_all
    from photonmc.simulation import simulate as simulate
    from photonmc.stages import Attenuator as Attenuator
    from photonmc.stages import BandpassFilter as BandpassFilter
    from photonmc.stages import BeamSplitter as BeamSplitter
    from photonmc.stages import Detector as Detector
    from photonmc.stages import Fiber as Fiber
    from photonmc.stages import HOMInterferometer as HOMInterferometer
    from photonmc.stages import LadderMemory as LadderMemory
    from photonmc.stages import OrcaMemory as OrcaMemory
    from photonmc.stages import QuantumDot as QuantumDot
    from photonmc.stages import TimeTagger as TimeTagger
    from photonmc.sweep import SweepResult as SweepResult
    from photonmc.sweep import sweep as sweep
