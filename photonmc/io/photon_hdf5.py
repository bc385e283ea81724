"""Photon-HDF5 time-tag files (write and read) and photonmc's coincidence-histogram files.

Photon-HDF5 (version 0.5, photon-hdf5.readthedocs.io) is an open HDF5 layout for
photon time stamps. photonmc writes one spot, its tags as absolute times in ps::

    /                                       attrs format_name "Photon-HDF5",
                                            format_version "0.5", format_url
    /description                            string
    /acquisition_duration                   float, s (the tags' duration, else their span)
    /photon_data/timestamps                 int64 absolute times (docs/physics.md section 1)
    /photon_data/timestamps_specs/timestamps_unit   1e-12 (s per unit: ps)
    /photon_data/detectors                  uint8 channel of each tag
    /photon_data/measurement_specs/         measurement_type "generic", and for pulsed
        laser_repetition_rate               data the rate in Hz
    /photon_data/nanotimes                  (pulsed data) uint16 TCSPC time since the sync
    /photon_data/nanotimes_specs/           tcspc_unit (s), tcspc_num_bins, tcspc_range (s)
    /setup/num_pixels ... /setup/lifetime   the mandatory setup fields: one spot, one
                                            spectral and polarization channel, every
                                            channel a beam-split channel; lifetime 1
                                            with nanotimes (pulsed data)
    /setup/excitation_alternated, excitation_cw, laser_repetition_rates (pulsed)
    /setup/detectors/id, label, counts      channel numbers, names and tag counts
    /identity/...                           filename, creation_time, software,
                                            software_version, format_name/version/url
    /provenance/...                         software that made the tags
    /user/photonmc/shot                     int64 shot of each tag (when known)
    /user/photonmc/period_ps, resolution_ps, duration_ps   exact metadata
    /user/photonmc/tcspc_offsets_ps, fibre_delays_ps       per channel, when given

Every official node carries its specification text as a TITLE attribute, as phconvert
writes and validates it; strings are scalar byte strings. Shots go under /user because
Photon-HDF5 has no field for them.

Timestamps stay the tags' absolute times (ps), and pulsed data also get nanotimes, the
TCSPC time since the latest sync that lifetime tools read as microtimes: nanotime =
floor((time - offset_c - sync) / tcspc_unit), sync the latest sync time at or before
`time - offset_c`, offset_c the channel's TCSPC offset (whole ps, default 0). Simulated
links (`timetag_files.simulation_writer`) set offset_c to the fibre delay to the detector
plus the tagger's sync offset and window start, as the PTU writer does (`photonmc.io.ptu`):
a nanotime times tcspc_unit is then the click's histogram time minus `window_start_ns`,
one decay over [0, T_rep) however long the fibre. tcspc_unit is 1 ps, doubled while a
period exceeds 65536 bins; tcspc_num_bins = ceil(T_rep / tcspc_unit).

Reading takes these files and other single-spot Photon-HDF5 files: timestamps times
timestamps_unit, plus nanotimes times tcspc_unit when present (except in photonmc's own
files, whose timestamps are already absolute); when the timestamps count laser periods
(unit = 1 / laser_repetition_rate) they are the shots.

The coincidence-histogram file of `photonmc correlate` is photonmc's own small layout,
in `photonmc.io.correlation_hdf5`.

Writes are atomic: a temporary file beside the target, fsynced, renamed at close.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
import os
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from photonmc import units
from photonmc._version import __version__
from photonmc.io.atomic import StreamingFile, naming_target, temporary_path
from photonmc.io.hdf5 import check_writable
from photonmc.io.ptu import sync_index
from photonmc.timetags import SYNC_CHANNEL, OrderedStream, TimeTags, shot_clock_ps

FORMAT_NAME = "Photon-HDF5"
FORMAT_VERSION = "0.5"
FORMAT_URL = "http://photon-hdf5.org/"
_CHUNK = 1 << 16
#: nanotimes are uint16: a period takes at most this many TCSPC bins
_NANOTIME_BINS = 1 << 16

#: Specification texts (phconvert/specs/photon-hdf5_specs.json, version 0.5) of the
#: official fields photonmc writes; each becomes the node's TITLE attribute.
TITLES = {
    "/": "A file format for photon-counting detector based single-molecule "
    "spectroscopy experiments.",
    "/acquisition_duration": "Measurement duration in seconds.",
    "/description": "A user-defined comment describing the data file.",
    "/photon_data": "Group containing arrays of photon-data.",
    "/photon_data/timestamps": "Array of photon timestamps. Units specified in "
    "timestamps_units (defined in timestamps_specs/).",
    "/photon_data/detectors": "Array of pixel IDs for each timestamp.",
    "/photon_data/nanotimes": "TCSPC photon arrival time (nanotimes). Units and other "
    "specifications are in nanotimes_specs group.",
    "/photon_data/nanotimes_specs": "Group for nanotime-specific data.",
    "/photon_data/nanotimes_specs/tcspc_unit": "Value of 1-unit nanotime-increment in "
    "seconds (TCSPC bin size).",
    "/photon_data/nanotimes_specs/tcspc_num_bins": "Number of TCSPC bins.",
    "/photon_data/nanotimes_specs/tcspc_range": "TCSPC full-scale range in seconds.",
    "/photon_data/timestamps_specs": "Specifications for timestamps.",
    "/photon_data/timestamps_specs/timestamps_unit": "Value of 1-unit timestamp-increment "
    "in seconds.",
    "/photon_data/measurement_specs": "Metadata necessary for interpretation of the "
    "particular type of measurement.",
    "/photon_data/measurement_specs/measurement_type": "Name of the measurement the data "
    "represents.",
    "/photon_data/measurement_specs/laser_repetition_rate": "Repetition rate of the pulsed "
    "excitation laser (in Hertz).",
    "/photon_data/measurement_specs/detectors_specs": "Mapping between the pixel IDs and "
    "the detection channels.",
    "/setup": "Information about the experimental setup.",
    "/setup/num_pixels": "Total number of detector pixels.",
    "/setup/num_spots": 'Number of excitation (or detection) "spots" in the sample.',
    "/setup/num_spectral_ch": "Number of distinct spectral bands which are acquired.",
    "/setup/num_polarization_ch": "Number of distinct polarization states which are acquired.",
    "/setup/num_split_ch": "Number of distinct detection channels detecting the same "
    "spectral band and polarization. This value is > 1 when using a non-polarizing "
    "beam splitter.",
    "/setup/modulated_excitation": "True (i.e. 1) if there is any form of excitation "
    "modulation of excitation wavelength (as in us-ALEX or PAX) or polarization. This "
    "field is also True for pulse-interleaved excitation (PIE) or ns-ALEX measurements.",
    "/setup/excitation_alternated": "New in version 0.5. Indicates whether each excitation "
    "source is alternated (True, or 1) or not alternated (False, or 0).",
    "/setup/lifetime": "True (i.e. 1) if the measurement includes a nanotimes array of "
    "photon arrival times with respect to a laser pulse (as in TCSPC measurements).",
    "/setup/excitation_cw": "For each excitation source, this field indicates whether "
    "excitation is continuous wave (CW), True (i.e. 1), or pulsed, False (i.e. 0).",
    "/setup/laser_repetition_rates": "Repetition rates in Hz for each laser. CW lasers "
    "have a value of 0.",
    "/setup/excitation_wavelengths": "List of excitation wavelengths (center wavelength if "
    "broad-band) in increasing order (unit: meter).",
    "/setup/detection_wavelengths": "Reference wavelengths (units: meter) for each detected "
    "spectral band.",
    "/setup/detectors": "Metadata relative to each detector's pixel. Each field is an "
    "array with size equal to the number of the detectors.",
    "/setup/detectors/id": "Detector IDs as they appear on /photon_data/detectors.",
    "/setup/detectors/label": "Labels (strings) describing each detector.",
    "/setup/detectors/counts": "Total number of counts detected by each detector.",
    "/identity": "Information about the Photon-HDF5 data file.",
    "/identity/filename": "Original file name of the current Photon-HDF5 file (i.e. file "
    "name at creation time).",
    "/identity/filename_full": "Original file name (with full path) of the current "
    "Photon-HDF5 file (i.e. full file name at creation time).",
    "/identity/creation_time": "Creation time of the current Photon-HDF5 file.",
    "/identity/author": "Author of the current data file.",
    "/identity/author_affiliation": "Company or institution the author is affiliated with.",
    "/identity/software": "Name of the software used to create the current Photon-HDF5 file.",
    "/identity/software_version": "Version of the software used to create current the "
    "Photon-HDF5 file.",
    "/identity/format_name": "Name of the file format.",
    "/identity/format_version": "Version for the Photon-HDF5 format.",
    "/identity/format_url": "Official URL for the Photon-HDF5 format.",
    "/provenance": "Information about the original data file.",
    "/provenance/filename": "File name of the original data file before conversion to Photon-HDF5.",
    "/provenance/creation_time": "Creation time of the original data file.",
    "/provenance/software": "Software used to save the original data file.",
    "/provenance/software_version": "Version of the software used to save the original data file.",
}

# phconvert's ordinals for numbered fields ("thrid" is theirs: its validator compares).
_NTH = (
    "first",
    "second",
    "thrid",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
)


def _titles(n_channels: int) -> dict[str, str]:
    """TITLES plus the numbered detectors_specs/split_chM fields of n channels."""
    titles = dict(TITLES)
    for m in range(1, n_channels + 1):
        nth = _NTH[m - 1] if m <= len(_NTH) else f"{m}{_suffix(m)}"
        titles[f"/photon_data/measurement_specs/detectors_specs/split_ch{m}"] = (
            f"Pixel IDs for the {nth} channel split through a non-polarizing beam splitter."
        )
    return titles


def _suffix(m: int) -> str:
    return {1: "st", 2: "nd", 3: "rd"}.get(m % 10, "")


#: Fields a Photon-HDF5 file must have (the specification's and phconvert's checks)
REQUIRED_FIELDS = (
    "/acquisition_duration",
    "/description",
    "/photon_data/timestamps",
    "/photon_data/timestamps_specs/timestamps_unit",
    "/setup/num_pixels",
    "/setup/num_spots",
    "/setup/num_spectral_ch",
    "/setup/num_polarization_ch",
    "/setup/num_split_ch",
    "/setup/modulated_excitation",
    "/setup/lifetime",
    "/setup/excitation_alternated",
    "/identity/format_name",
    "/identity/format_version",
    "/identity/format_url",
    "/identity/software",
    "/identity/software_version",
    "/identity/creation_time",
)


class PhotonHDF5Error(ValueError):
    """A file that is not a readable Photon-HDF5 (or photonmc correlation) file."""


# ------------------------------------------------------------------- writing
class PhotonHDF5Writer(StreamingFile):
    """Stream time tags into a Photon-HDF5 file (layout above), atomically.

    Args:
        path: target file (.h5 or .hdf5). An existing file is an error unless `force`.
        channels: detector channel names (channel c is detector ID c).
        period_ps: shot period in ps (pulsed data), or None.
        resolution_ps: time resolution of the tags in ps (recorded, not applied).
        description: `/description`.
        wavelength_nm: source wavelength in nm, written as the excitation and detection
            wavelength (m); None leaves both out (phconvert then warns).
        provenance: software (name, version) that produced the tags; default photonmc.
        reorder_window_ps: how far chunks may overlap in time (see OrderedStream).
        tcspc_offsets_ps: whole ps subtracted from each channel's times before its
            nanotimes are computed (pulsed data; default 0; module docstring).
        fibre_delays_ps: each channel's fixed fibre delay, ps, recorded under /user.

    Use as a context manager or call `close()`; `abort()` discards the file.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        channels: Sequence[str],
        period_ps: float | None,
        resolution_ps: float = 1.0,
        description: str = "Time tags simulated by photonmc",
        wavelength_nm: float | None = None,
        provenance: tuple[str, str] | None = None,
        force: bool = False,
        reorder_window_ps: int = 1_000_000,
        tcspc_offsets_ps: Sequence[int] | None = None,
        fibre_delays_ps: Sequence[float] | None = None,
    ) -> None:
        self.path = Path(path)
        self._stream = OrderedStream(
            channels=channels,
            period_ps=period_ps,
            resolution_ps=resolution_ps,
            shots=None,
            reorder_window_ps=reorder_window_ps,
        )
        template = self._stream.template
        self.channels = template.channels
        self.period_ps = template.period_ps
        self.resolution_ps = template.resolution_ps
        self.description = description
        self.wavelength_nm = wavelength_nm
        self.provenance = provenance or ("photonmc", __version__)
        #: /identity/author and author_affiliation (simulated data have no lab; set them
        #: for data of a real setup)
        self.author = "photonmc (simulated data)"
        self.author_affiliation = "none (simulation)"
        n = len(self.channels)
        self.tcspc_offsets_ps = _per_channel(tcspc_offsets_ps, n, "tcspc_offsets_ps", True)
        self.fibre_delays_ps = _per_channel(fibre_delays_ps, n, "fibre_delays_ps", False)
        self._shift = np.zeros(SYNC_CHANNEL + 1, np.int64)
        if self.tcspc_offsets_ps is not None:
            self._shift[:n] = self.tcspc_offsets_ps
        #: TCSPC bin of the nanotimes, ps (pulsed data): 1 ps, doubled until a period fits
        self.tcspc_unit_ps = 1
        if self.period_ps is not None:
            while math.ceil(self.period_ps) > _NANOTIME_BINS * self.tcspc_unit_ps:
                self.tcspc_unit_ps *= 2
        self._counts = np.zeros(SYNC_CHANNEL + 1, np.int64)
        self._first: int | None = None
        self._last: int | None = None
        check_writable(self.path, force)
        self._tmp = temporary_path(self.path)
        with naming_target(self.path, self._tmp):
            self._file: h5py.File | None = h5py.File(self._tmp, "x", track_order=True)
        try:
            data = self._group("/photon_data")
            self._timestamps = self._growing(data, "timestamps", np.int64)
            self._detectors = self._growing(data, "detectors", np.uint8)
            self._nanotimes = None
            if self.period_ps is not None:
                self._nanotimes = self._growing(data, "nanotimes", np.uint16)
            self._shots: h5py.Dataset | None = None
        except BaseException:
            self.abort()
            raise

    def write(self, tags: TimeTags) -> None:
        """Append a chunk of tags (the file's channels and period)."""
        super().write(tags)

    def _finish(self) -> None:
        """Write the shots dataset if none came, and the metadata; close the file."""
        if self._stream.shots and self._shots is None:  # tags with shots, none of them
            self._shots = self._growing(self._group("/user/photonmc"), "shot", np.int64)
        self._write_metadata()
        self._file.close()

    # -------------------------------------------------------------- internals
    def _group(self, path: str) -> h5py.Group:
        return self._file.require_group(path)

    def _growing(self, group: h5py.Group, name: str, dtype) -> h5py.Dataset:
        return group.create_dataset(
            name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(_CHUNK,)
        )

    def _append(self, tags: TimeTags) -> None:
        if tags.shot is not None and self._shots is None:
            user = self._file.require_group("/user/photonmc")
            self._shots = self._growing(user, "shot", np.int64)
        n0, n = self._timestamps.shape[0], len(tags)
        for ds, values in (
            (self._timestamps, tags.time_ps),
            (self._detectors, tags.channel),
            (self._shots, tags.shot),
            (self._nanotimes, self._nanotimes_of(tags)),
        ):
            if ds is not None:
                ds.resize((n0 + n,))
                ds[n0:] = values
        self._counts += np.bincount(tags.channel, minlength=SYNC_CHANNEL + 1)
        if self._first is None:
            self._first = int(tags.time_ps[0])
        self._last = int(tags.time_ps[-1])

    def _nanotimes_of(self, tags: TimeTags) -> np.ndarray | None:
        """TCSPC time since the latest sync of each tag, in tcspc_unit bins (uint16)."""
        if self._nanotimes is None:
            return None
        t = tags.time_ps - self._shift[tags.channel]
        since = t - shot_clock_ps(sync_index(t, self.period_ps), self.period_ps)
        return (since // self.tcspc_unit_ps).astype(np.uint16)

    def _write_metadata(self) -> None:
        f = self._file
        f.attrs["format_name"] = np.bytes_(FORMAT_NAME)
        f.attrs["format_version"] = np.bytes_(FORMAT_VERSION)
        f.attrs["format_url"] = np.bytes_(FORMAT_URL)
        duration = self._stream.duration_ps
        if duration is None:
            span = 0 if self._first is None else self._last - self._first
            seconds = span / units.PS_PER_S
        else:
            seconds = duration / units.PS_PER_S
        self._scalar("/acquisition_duration", np.float64(seconds))
        self._string("/description", self.description)
        self._scalar(
            "/photon_data/timestamps_specs/timestamps_unit", np.float64(1 / units.PS_PER_S)
        )
        pulsed = self.period_ps is not None
        n = len(self.channels)
        specs = "/photon_data/measurement_specs"
        self._string(f"{specs}/measurement_type", "generic")
        self._group(f"{specs}/detectors_specs")
        if n > 1:
            for i in range(n):
                self._array(f"{specs}/detectors_specs/split_ch{i + 1}", np.array([i], np.uint8))
        if pulsed:
            rate_hz = units.PS_PER_S / self.period_ps
            self._scalar(f"{specs}/laser_repetition_rate", np.float64(rate_hz))
            self._array("/setup/laser_repetition_rates", np.array([rate_hz], np.float64))
            nano = "/photon_data/nanotimes_specs"
            unit_s = self.tcspc_unit_ps / units.PS_PER_S
            n_bins = math.ceil(self.period_ps / self.tcspc_unit_ps)
            self._scalar(f"{nano}/tcspc_unit", np.float64(unit_s))
            self._scalar(f"{nano}/tcspc_num_bins", np.int64(n_bins))
            self._scalar(f"{nano}/tcspc_range", np.float64(n_bins * unit_s))
        for name, value in (
            ("num_pixels", n),
            ("num_spots", 1),
            ("num_spectral_ch", 1),
            ("num_polarization_ch", 1),
            ("num_split_ch", n),
            ("modulated_excitation", 0),
            ("lifetime", 1 if pulsed else 0),  # nanotimes with pulsed data
        ):
            self._scalar(f"/setup/{name}", np.int64(value))
        if self.wavelength_nm is not None:
            wavelength_m = np.array([self.wavelength_nm * units.M_PER_NM], np.float64)
            self._array("/setup/excitation_wavelengths", wavelength_m)
            self._array("/setup/detection_wavelengths", wavelength_m)
        self._array("/setup/excitation_alternated", np.array([0], np.uint8))
        self._array("/setup/excitation_cw", np.array([0 if pulsed else 1], np.uint8))
        self._array("/setup/detectors/id", np.arange(n, dtype=np.uint8))
        self._array("/setup/detectors/label", np.array([c.encode() for c in self.channels]))
        self._array("/setup/detectors/counts", self._counts[:n].copy())
        now = _dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        for name, value in (
            ("filename", self.path.name),
            ("filename_full", str(self.path.resolve())),
            ("creation_time", now),
            ("software", "photonmc"),
            ("software_version", __version__),
            ("format_name", FORMAT_NAME),
            ("format_version", FORMAT_VERSION),
            ("format_url", FORMAT_URL),
            ("author", self.author),
            ("author_affiliation", self.author_affiliation),
        ):
            self._string(f"/identity/{name}", value)
        software, version = self.provenance
        self._string("/provenance/software", software)
        self._string("/provenance/software_version", version)
        self._string("/provenance/creation_time", now)
        user = self._file.require_group("/user/photonmc")
        user["period_ps"] = np.float64(np.nan if self.period_ps is None else self.period_ps)
        user["resolution_ps"] = np.float64(self.resolution_ps)
        user["duration_ps"] = np.int64(-1 if duration is None else duration)
        user["channels"] = np.array([c.encode() for c in self.channels])
        if self.tcspc_offsets_ps is not None:
            user["tcspc_offsets_ps"] = np.array(self.tcspc_offsets_ps, np.int64)
        if self.fibre_delays_ps is not None:
            user["fibre_delays_ps"] = np.array(self.fibre_delays_ps, np.float64)
        user.attrs["photonmc_version"] = __version__
        for field, title in _titles(n).items():
            node = f if field == "/" else f.get(field)
            if node is not None:
                node.attrs["TITLE"] = np.bytes_(title)

    def _node(self, path: str, value) -> None:
        parent, name = path.rsplit("/", 1)
        group = self._group(parent) if parent else self._file
        group[name] = value

    def _scalar(self, path: str, value) -> None:
        self._node(path, value)

    def _string(self, path: str, value: str) -> None:
        self._node(path, np.bytes_(value.encode("utf-8")))
        # PyTables (phconvert) reads a scalar string as bytes only with this flavor.
        self._file[path].attrs["FLAVOR"] = np.bytes_("python")

    def _array(self, path: str, value: np.ndarray) -> None:
        self._node(path, value)


def write_photon_hdf5(
    path: str | os.PathLike, tags: TimeTags, *, force: bool = False, **kwargs
) -> Path:
    """Write `tags` as a Photon-HDF5 file (layout above); returns the path.

    Keyword arguments go to PhotonHDF5Writer (description, provenance).
    """
    with PhotonHDF5Writer(
        path,
        channels=tags.channels,
        period_ps=tags.period_ps,
        resolution_ps=tags.resolution_ps,
        force=force,
        reorder_window_ps=0,
        **kwargs,
    ) as writer:
        writer.write(tags.sorted())
    return Path(path)


# ------------------------------------------------------------------- reading
def read_photon_hdf5(path: str | os.PathLike) -> TimeTags:
    """Read the tags of a single-spot Photon-HDF5 file.

    Raises FileNotFoundError for a missing file and PhotonHDF5Error (a ValueError) for
    a file that is not a complete single-spot Photon-HDF5 file.
    """
    path = Path(path)
    with _open(path, "Photon-HDF5") as f:
        if f.attrs.get("format") == "photonmc.result":
            raise PhotonHDF5Error(
                f"{path}: a photonmc result file holds histograms, not time tags; "
                "write time tags with simulate --timetags"
            )
        name = _string_attr(f, "format_name")
        if name is None and "identity/format_name" in f:
            name = _read_string(f["identity/format_name"])
        if name != FORMAT_NAME:
            raise PhotonHDF5Error(f"{path}: not a Photon-HDF5 file (no format_name 'Photon-HDF5')")
        try:
            return _read(f, path)
        except PhotonHDF5Error:
            raise
        except (KeyError, TypeError, ValueError, OSError, RuntimeError, ArithmeticError) as e:
            # RuntimeError: h5py's link traversal (a soft link to itself, a link loop)
            raise PhotonHDF5Error(f"{path}: damaged Photon-HDF5 file ({_one_line(e)})") from None


def _read(f: h5py.File, path: Path) -> TimeTags:
    spots = [k for k in f if k.startswith("photon_data") and k != "photon_data"]
    if spots:
        raise PhotonHDF5Error(f"{path}: multi-spot files ({', '.join(spots)}) are not read")
    for field in ("photon_data/timestamps", "photon_data/timestamps_specs/timestamps_unit"):
        if field not in f:
            raise PhotonHDF5Error(f"{path}: missing /{field}")
    data = f["photon_data"]
    timestamps = _integers(data["timestamps"], path)
    _check_monotonic(timestamps, path)
    unit_ps = _unit_ps(data["timestamps_specs/timestamps_unit"], timestamps, path)
    if "detectors" in data:
        detectors = _integers(data["detectors"], path)
        if detectors.shape != timestamps.shape:
            raise PhotonHDF5Error(
                f"{path}: {detectors.size} detectors for {timestamps.size} timestamps"
            )
        if detectors.size and (detectors.min() < 0 or detectors.max() >= SYNC_CHANNEL):
            raise PhotonHDF5Error(
                f"{path}: detector IDs must be in 0..{SYNC_CHANNEL - 1}, got "
                f"{int(detectors.min())}..{int(detectors.max())}"
            )
    else:
        detectors = np.zeros(timestamps.shape, np.uint8)
    user = f.get("user/photonmc")
    period_ps = None
    rate_path = "photon_data/measurement_specs/laser_repetition_rate"
    if user is not None and "period_ps" in user and math.isfinite(user["period_ps"][()]):
        period_ps = float(user["period_ps"][()])
    elif rate_path in f and float(f[rate_path][()]) > 0:
        period_ps = units.PS_PER_S / float(f[rate_path][()])
    resolution_ps = unit_ps
    shot = None
    # photonmc's own files: absolute timestamps, nanotimes for lifetime tools only
    own = user is not None and "channels" in user and "period_ps" in user
    if "nanotimes" in data and not own:
        # TCSPC layout: a macrotime plus the time since the laser pulse.
        nanotimes = _integers(data["nanotimes"], path)
        if nanotimes.shape != timestamps.shape:
            raise PhotonHDF5Error(f"{path}: {nanotimes.size} nanotimes for {timestamps.size}")
        tcspc_ps = _unit_ps(data["nanotimes_specs/tcspc_unit"], nanotimes, path)
        resolution_ps = tcspc_ps
        if period_ps is not None and abs(unit_ps - period_ps) <= 1e-6 * period_ps:
            shot = timestamps
            macro = np.rint(shot * period_ps).astype(np.int64)
        else:
            macro = np.rint(timestamps * unit_ps).astype(np.int64)
        time_ps = macro + np.rint(nanotimes * tcspc_ps).astype(np.int64)
    elif float(unit_ps).is_integer():
        time_ps = timestamps * np.int64(unit_ps)
    else:
        time_ps = np.rint(timestamps * unit_ps).astype(np.int64)
    duration = None
    names: Sequence[str] = ()
    if user is not None:
        if "shot" in user:
            shot = _integers(user["shot"], path)
        if "resolution_ps" in user:
            resolution_ps = float(user["resolution_ps"][()])
        if "duration_ps" in user and int(user["duration_ps"][()]) >= 0:
            duration = int(user["duration_ps"][()])
        if "channels" in user:
            names = [_decode(x) for x in user["channels"][()]]
    if not names and "setup/detectors/label" in f and "setup/detectors/id" in f:
        ids = f["setup/detectors/id"][()]
        labels = [_decode(x) for x in f["setup/detectors/label"][()]]
        if np.array_equal(ids, np.arange(len(ids))):
            names = labels
    if duration is None and "acquisition_duration" in f:
        seconds = float(f["acquisition_duration"][()])
        duration = (
            round(seconds * units.PS_PER_S) if math.isfinite(seconds) and seconds > 0 else None
        )
    try:
        return TimeTags(
            channel=detectors.astype(np.uint8),
            time_ps=time_ps,
            shot=shot,
            period_ps=period_ps,
            channels=tuple(names),
            resolution_ps=resolution_ps,
            duration_ps=duration,
        )
    except ValueError as e:
        raise PhotonHDF5Error(f"{path}: {_one_line(e)}") from None


def check_photon_hdf5(path: str | os.PathLike) -> list[str]:
    """Structural check of a Photon-HDF5 file: the list of problems (empty if none).

    Checks the root attributes, every field of REQUIRED_FIELDS, the kinds (string,
    scalar, array) of the official fields present, the TITLE of each official field
    photonmc writes, equal lengths of the per-photon arrays, and the pulsed-data fields
    (measurement_specs/laser_repetition_rate and setup/laser_repetition_rates) when a
    source is pulsed.
    """
    problems = []
    with _open(Path(path), "Photon-HDF5") as f:
        for key, expected in (
            ("format_name", FORMAT_NAME),
            ("format_version", FORMAT_VERSION),
            ("format_url", FORMAT_URL),
        ):
            if _string_attr(f, key) != expected:
                problems.append(f"root attribute {key} is not {expected!r}")
        for field in REQUIRED_FIELDS:
            if field.lstrip("/") not in f:
                problems.append(f"missing {field}")
        n_pixels = int(f["setup/num_pixels"][()]) if "setup/num_pixels" in f else 0
        for field, title in _titles(n_pixels).items():
            node = f if field == "/" else f.get(field.lstrip("/"))
            if node is None:
                continue
            if _string_attr(node, "TITLE") != title:
                problems.append(f"{field}: TITLE is not the specification's text")
            if isinstance(node, h5py.Dataset):
                kind = _kind(field)
                if kind == "string" and not (node.ndim == 0 and node.dtype.kind == "S"):
                    problems.append(f"{field} must be a scalar byte string")
                elif kind == "scalar" and node.ndim != 0:
                    problems.append(f"{field} must be a scalar")
                elif kind == "array" and node.ndim < 1:
                    problems.append(f"{field} must be an array")
        data = f.get("photon_data")
        if data is not None and "timestamps" in data:
            n = data["timestamps"].shape
            for name in ("detectors", "nanotimes"):
                if name in data and data[name].shape != n:
                    problems.append(f"/photon_data/{name} and timestamps differ in length")
            if "user/photonmc/shot" in f and f["user/photonmc/shot"].shape != n:
                problems.append("/user/photonmc/shot and timestamps differ in length")
        cw = f.get("setup/excitation_cw")
        if cw is not None and not np.all(cw[()]):
            for field in (
                "photon_data/measurement_specs/laser_repetition_rate",
                "setup/laser_repetition_rates",
            ):
                if field not in f:
                    problems.append(f"pulsed excitation without /{field}")
    return problems


def _kind(field: str) -> str:
    strings = ("/description", "/identity/", "/provenance/", "measurement_type")
    if any(s in field for s in strings):
        return "string"
    if "/detectors_specs/" in field:
        return "array"
    arrays = (
        "/photon_data/timestamps",
        "/photon_data/detectors",
        "/photon_data/nanotimes",
        "/setup/excitation_alternated",
        "/setup/excitation_cw",
        "/setup/laser_repetition_rates",
        "/setup/excitation_wavelengths",
        "/setup/detection_wavelengths",
    )
    if field in arrays or field.startswith("/setup/detectors/"):
        return "array"
    return "scalar"


# ------------------------------------------------------------------- helpers
def _per_channel(values, n: int, name: str, whole: bool):
    """A per-channel list of n numbers of ps (whole ps when `whole`), or None; checked."""
    if values is None:
        return None
    out = [float(v) for v in values]
    if len(out) != n:
        raise ValueError(
            f"PhotonHDF5Writer.{name} needs one value per channel ({n}), got {len(out)}"
        )
    for v in out:
        if not math.isfinite(v) or abs(v) >= 1e18 or (whole and not v.is_integer()):
            kind = "whole numbers of ps" if whole else "finite numbers of ps"
            raise ValueError(f"PhotonHDF5Writer.{name} must be {kind} within +-1e18, got {v!r}")
    return [int(v) for v in out] if whole else out


@contextlib.contextmanager
def _open(path: Path, what: str):
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise PhotonHDF5Error(f"{path} is a directory, not a {what} file")
    if not h5py.is_hdf5(path):
        raise PhotonHDF5Error(f"{path}: not an HDF5 file ({what} files are HDF5)")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise PhotonHDF5Error(
            f"{path}: unreadable HDF5 file, truncated or damaged ({_one_line(e)})"
        ) from None
    with f:
        try:
            yield f
        except (OSError, RuntimeError) as e:  # RuntimeError: a link loop in the file
            raise PhotonHDF5Error(
                f"{path}: unreadable HDF5 data, truncated or damaged ({_one_line(e)})"
            ) from None


def _integers(ds: h5py.Dataset, path: Path) -> np.ndarray:
    if ds.ndim != 1 or ds.dtype.kind not in "iu":
        raise PhotonHDF5Error(
            f"{path}: {ds.name} must be a 1-D integer array, got {ds.dtype} of shape {ds.shape}"
        )
    a = ds[()]
    if a.dtype == np.uint64 and a.size and a.max() > np.iinfo(np.int64).max:
        raise PhotonHDF5Error(f"{path}: {ds.name} exceeds the int64 range")
    return a.astype(np.int64, copy=False)


def _check_monotonic(timestamps: np.ndarray, path: Path) -> None:
    """Photon-HDF5 timestamps never decrease (the specification's monotonic order)."""
    block = 1 << 22
    for i in range(0, max(timestamps.size - 1, 0), block):
        part = timestamps[i : i + block + 1]
        down = np.flatnonzero(part[1:] < part[:-1])
        if down.size:
            j = i + int(down[0])
            raise PhotonHDF5Error(
                f"{path}: /photon_data/timestamps must not decrease (Photon-HDF5 stores them "
                f"in time order), but entry {j + 1} ({int(timestamps[j + 1])}) is smaller "
                f"than entry {j} ({int(timestamps[j])})"
            )


def _unit_ps(ds: h5py.Dataset, ticks: np.ndarray, path: Path) -> float:
    """A unit dataset (seconds per tick) in ps, checked: finite, > 0, times within int64."""
    try:
        seconds = float(ds[()])
    except (TypeError, ValueError):
        raise PhotonHDF5Error(f"{path}: {ds.name} must be a number of seconds") from None
    unit_ps = seconds * units.PS_PER_S
    if not (math.isfinite(unit_ps) and unit_ps > 0):
        raise PhotonHDF5Error(f"{path}: {ds.name} must be finite and > 0 s, got {seconds!r}")
    reach = float(np.abs(ticks).max()) * unit_ps if ticks.size else 0.0
    if reach >= float(1 << 62):
        raise PhotonHDF5Error(
            f"{path}: {ds.name} = {seconds!r} s puts the times at {reach:.3g} ps, beyond the "
            "int64 range of ps"
        )
    return unit_ps


def _decode(x) -> str:
    return x.decode("utf-8", errors="replace") if isinstance(x, bytes) else str(x)


def _read_string(ds: h5py.Dataset) -> str:
    return _decode(ds[()])


def _string_attr(node, key: str) -> str | None:
    value = node.attrs.get(key)
    if value is None:
        return None
    if isinstance(value, np.ndarray) and value.shape == (1,):
        value = value[0]
    return _decode(value)


def _attr(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__
