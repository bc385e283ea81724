"""Time-tag files by extension: PicoQuant PTU (.ptu) and Photon-HDF5 (.h5, .hdf5).

`read_timetags` reads either into `photonmc.timetags.TimeTags`; `open_writer` gives a
streaming writer (`photonmc.timetags.TimeTagWriter`); `simulation_writer` gives a writer
for a simulated run and the `on_records` callback that feeds it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from photonmc.io.photon_hdf5 import PhotonHDF5Writer, read_photon_hdf5
from photonmc.io.ptu import PTUWriter, read_ptu
from photonmc.timetags import TimeTags, TimeTagWriter

PTU_EXTENSIONS = (".ptu",)
HDF5_EXTENSIONS = (".h5", ".hdf5")


def read_timetags(path: str | os.PathLike) -> TimeTags:
    """Read a PTU (.ptu) or Photon-HDF5 (.h5, .hdf5) file of time tags."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in PTU_EXTENSIONS:
        return read_ptu(path)
    if suffix in HDF5_EXTENSIONS:
        return read_photon_hdf5(path)
    raise ValueError(
        f"{path}: unknown time-tag file type {suffix or '(no extension)'!r}; "
        "photonmc reads PicoQuant .ptu and Photon-HDF5 .h5/.hdf5"
    )


def open_writer(
    path: str | os.PathLike,
    *,
    channels: Sequence[str],
    period_ps: float | None,
    resolution_ps: float = 1.0,
    force: bool = False,
    reorder_window_ps: int = 1_000_000,
    tcspc_offsets_ps: Sequence[int] | None = None,
    fibre_delays_ps: Sequence[float] | None = None,
) -> TimeTagWriter:
    """A streaming writer for `path`: PTU T3 (.ptu) or Photon-HDF5 (.h5, .hdf5).

    tcspc_offsets_ps (whole ps per channel) are subtracted from the times before the
    T3 dtime or the Photon-HDF5 nanotimes are computed, and recorded so that readers
    restore the absolute times; fibre_delays_ps (ps per channel) are recorded. Fails
    before anything is written if the path exists (unless `force`), its directory is
    missing, or the extension is neither.
    """
    extra = {"tcspc_offsets_ps": tcspc_offsets_ps, "fibre_delays_ps": fibre_delays_ps}
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in PTU_EXTENSIONS:
        if period_ps is None:
            raise ValueError(f"{path}: PTU T3 records need the shot period (period_ps)")
        return PTUWriter(
            path,
            channels=channels,
            period_ps=period_ps,
            force=force,
            reorder_window_ps=reorder_window_ps,
            **extra,
        )
    if suffix in HDF5_EXTENSIONS:
        return PhotonHDF5Writer(
            path,
            channels=channels,
            period_ps=period_ps,
            resolution_ps=resolution_ps,
            force=force,
            reorder_window_ps=reorder_window_ps,
            **extra,
        )
    raise ValueError(
        f"{path}: unknown time-tag file type {suffix or '(no extension)'!r}; "
        "photonmc writes PicoQuant .ptu (T3) and Photon-HDF5 .h5/.hdf5"
    )


def simulation_writer(path: str | os.PathLike, link, *, force: bool = False):
    """A writer for a simulated run's time tags, and the callback that feeds it.

    Returns (writer, on_records): pass `on_records` to `photonmc.simulate`, which calls it
    with each block's click records; close the writer when the run is done (or abort it
    when the run fails, so no partial file is left). Channels are the link's detectors
    in order; the period is the source's.

    The TCSPC times of the file (PTU dtime, Photon-HDF5 nanotimes) are taken after each
    channel's offset: the fixed fibre delay D to its detector plus the tagger's sync
    offset and window start, rounded to whole ps, so that a TCSPC time is the click's
    histogram time minus `window_start_ns` and a lifetime fit sees one decay in
    [0, T_rep), whatever the fibre length (10 km: D = 49 us, 3900 periods). The file
    records D (`photonmc_FibreDelayPs`, `/user/photonmc/fibre_delays_ps`) and the offsets
    (`photonmc_TcspcOffsetPs`, `/user/photonmc/tcspc_offsets_ps`); the absolute
    timestamps that photonmc reads back are unchanged.
    """
    period_ps = 1e3 * float(link.source.period_ns)
    channels = tuple(d.name for d in link.detectors)
    tagger = link.tagger
    fibre_ps = [1e3 * float(link.delay_to(d)) for d in link.detectors]
    start_ps = 1e3 * (float(tagger.sync_offset_ns) + float(tagger.window_start_ns))
    offsets_ps = [round(d + start_ps) for d in fibre_ps]
    # A chunk's clicks may reach past the next chunk's first click by up to the window
    # beyond one period plus a detector's dead time, and channels with different
    # offsets move apart by their difference: let the writer reorder that much.
    reach_ns = max(tagger.window_stop_ns - tagger.window_start_ns, float(link.source.period_ns))
    reach_ns += max(float(d.dead_time_ns) for d in link.detectors)
    spread_ps = max(offsets_ps) - min(offsets_ps)
    writer = open_writer(
        path,
        channels=channels,
        period_ps=period_ps,
        force=force,
        reorder_window_ps=max(1_000_000, int(2e3 * reach_ns)) + spread_ps,
        tcspc_offsets_ps=offsets_ps,
        fibre_delays_ps=fibre_ps,
    )
    if isinstance(writer, PhotonHDF5Writer):  # the emission wavelength is known
        writer.wavelength_nm = float(link.source.wavelength_nm)

    def on_records(records: dict) -> None:
        writer.write(
            TimeTags(
                records["channel"],
                records["time_ps"],
                shot=records["shot"],
                period_ps=period_ps,
                channels=channels,
            )
        )

    return writer, on_records
