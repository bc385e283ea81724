"""The devices of a link: immutable PyTrees with units in their field names."""

from photonmc.stages._base import Context as Context
from photonmc.stages.detector import Detector as Detector
from photonmc.stages.detector import TimeTagger as TimeTagger
from photonmc.stages.fiber import Fiber as Fiber
from photonmc.stages.interferometer import HOMInterferometer as HOMInterferometer
from photonmc.stages.memory import LadderMemory as LadderMemory
from photonmc.stages.optics import Attenuator as Attenuator
from photonmc.stages.optics import BandpassFilter as BandpassFilter
from photonmc.stages.optics import BeamSplitter as BeamSplitter
from photonmc.stages.orca import OrcaMemory as OrcaMemory
from photonmc.stages.source import QuantumDot as QuantumDot

#: Stage types by the name a config file uses
STAGE_TYPES = {
    cls.__name__: cls
    for cls in (
        QuantumDot,
        Fiber,
        Attenuator,
        BandpassFilter,
        LadderMemory,
        OrcaMemory,
        BeamSplitter,
        HOMInterferometer,
        Detector,
    )
}
