"""Files: every format photonmc reads and writes (the only package that imports h5py)."""

from photonmc.io.hdf5 import ResultFileError as ResultFileError
from photonmc.io.hdf5 import read_result as read_result
from photonmc.io.hdf5 import read_summary as read_summary
from photonmc.io.hdf5 import write_result as write_result
