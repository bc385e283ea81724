"""photonmc: Monte Carlo of single photons through a quantum network link.

A quantum-dot source, optical fibre, an ORCA-type ladder quantum memory and
single-photon detectors with a time tagger, as vectorised JAX kernels, in an analog
mode (realistic clicks) and an expected mode (smooth expected histograms, for
gradients). The physics is specified in MODEL.md; units are in every field's name.
"""

from photonmc._version import __version__ as __version__
from photonmc.batch import ORIGINS as ORIGINS
from photonmc.fit import FitResult as FitResult
from photonmc.fit import fit as fit
from photonmc.io.datasets import EfficiencyCurve as EfficiencyCurve
from photonmc.io.datasets import HistogramData as HistogramData
from photonmc.link import Link as Link
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
from photonmc.stages import QuantumDot as QuantumDot
from photonmc.stages import TimeTagger as TimeTagger
from photonmc.sweep import SweepResult as SweepResult
from photonmc.sweep import sweep as sweep
