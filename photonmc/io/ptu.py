"""PicoQuant PTU files: read T2 and T3 records (with ptufile), write T3 point-mode records.

Reading uses the `ptufile` package: its tag parser (`PtuFile`) and its record decoder
(`decode_records`), in blocks of records so that memory stays bounded. T3 records
become tags with a shot (the sync count) and an absolute time
`round(shot * period) + dtime * resolution`; T2 records become tags without shots, at
`timetag * global_resolution`. In HydraHarp, TimeHarp 260 and MultiHarp T2 files the
sync is recorded as an event; ptufile reports it as channel 0, so this reader tells it
apart by its special bit and gives it `SYNC_CHANNEL` (255). Markers and overflow
records are not tags.

ptufile writes only T3 image-mode files, so `PTUWriter` writes point-mode T3 files
itself, following PicoQuant's published PTU format (PicoQuant-Time-Tagged-File-Format-
Demos, doc/apx_tttrrecords.html and apx_tagdictionary.html):

- header: the magic "PQTTTR\\0\\0", the version "1.0.00\\0\\0", then tags of 48 bytes
  (32-byte ident, int32 index (-1 when not an array), uint32 type, 8-byte value;
  strings follow their tag, NUL-padded to 8 bytes), ending with `Header_End`;
- `TTResultFormat_TTTRRecType` = 0x01010304 (HydraHarp V2 T3), 32 bits per record,
  `Measurement_Mode` = 3 (T3), `Measurement_SubMode` = 1 (point),
  `MeasDesc_GlobalResolution` = the shot period (s), `MeasDesc_Resolution` = the dtime
  unit (s), `TTResult_SyncRate` (Hz), `File_GUID`, `File_CreatingTime`,
  `CreatorSW_Name`; `TTResult_NumberOfRecords` and `MeasDesc_AcquisitionTime` (ms) are
  patched in at close;
- records: little-endian uint32, from the most significant bit: special (1),
  channel (6), dtime (15), nsync (10). A photon has special = 0. When the sync count
  passes a multiple of 1024, an overflow record (special = 1, channel = 63, nsync = the
  number of 1024-sync wraps, 1..1023) comes first.

photonmc's own tags keep what the standard ones cannot say exactly: `photonmc_PeriodPs`
(the period in ps, a double), `photonmc_FirstShot` (the shot of sync 0 of the file: 0,
or the earliest tag's sync when that comes before shot 0), `photonmc_DurationPs`,
`photonmc_ChannelName` (indexed), and per channel (indexed) `photonmc_FibreDelayPs`
(the link's fixed fibre delay to that detector, ps, a double) and
`photonmc_TcspcOffsetPs` (whole ps subtracted from that channel's absolute times before
its sync and dtime are computed); other readers ignore them. A T3 record stores the
tag's time since the latest sync, as a TCSPC card does. Simulated links set each
channel's offset to its fibre delay plus the tagger's sync offset and window start, as a
lab user sets a TCSPC card's sync delay: then dtime x MeasDesc_Resolution is the click's
histogram time minus `window_start_ns`, one decay in [0, T_rep) however long the fibre
(10 km is 49 us, some 3900 periods, whose remainder would otherwise split the decay at
the end of the period), and the record's sync is the shot that emitted the photon.
photonmc's reader adds the offsets back, so absolute times are the same as without them
(files written before the offsets read as offsets 0). A tag whose shifted time lies
before its own shot's sync, or a period or more after it, is read back with the shot of
the sync it follows (absolute times are kept; times are floored to the resolution). The
dtime unit is 1 ps, doubled while a period exceeds the 32768 dtime bins (periods over
32.8 ns, rates under 30.5 MHz).

Files are written to a temporary file beside the target and renamed at close, so an
unfinished file never appears under the target's name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import logging
import math
import os
import struct
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import ptufile

from photonmc import units
from photonmc._version import __version__
from photonmc.io.atomic import StreamingFile, naming_target, temporary_path
from photonmc.io.hdf5 import check_writable
from photonmc.timetags import SYNC_CHANNEL, OrderedStream, TimeTags, shot_clock_ps

#: Record type written: HydraHarp V2 T3
RECORD_TYPE_HH2_T3 = 0x01010304
#: Record types ptufile decodes, by measurement mode
T3_RECORD_TYPES = frozenset(
    {0x00010303, 0x00010304, 0x01010304, 0x00010305, 0x00010306, 0x00010307}
)
T2_RECORD_TYPES = frozenset(
    {0x00010203, 0x00010204, 0x01010204, 0x00010205, 0x00010206, 0x00010207}
)
#: T2 record types whose sync events are special records with channel code 0
_T2_SYNC_EVENT_TYPES = T2_RECORD_TYPES - {0x00010203}
_NSYNC_WRAP = 1024
_MAX_WRAPS_PER_RECORD = 1023
_DTIME_BINS = 1 << 15
_MAX_CHANNEL = 63
_OVERFLOW = (1 << 31) | (63 << 25)
#: Records decoded per block when reading, tags encoded per block when writing
_READ_BLOCK = 1 << 22
_WRITE_BLOCK = 1 << 20
#: Absolute times must stay below this many ps to fit int64 with room to spare
_MAX_TIME_PS = float(1 << 62)
#: Magic, version and one 48-byte tag (Header_End): the shortest possible header
_MIN_HEADER = 16 + 48


#: Header values written at close
_PATCHED = (
    "TTResult_NumberOfRecords",
    "MeasDesc_AcquisitionTime",
    "photonmc_FirstShot",
    "photonmc_DurationPs",
)

# Tag types of the PTU header (apx_tagtypes.html)
_EMPTY8 = 0xFFFF0008
_BOOL8 = 0x00000008
_INT8 = 0x10000008
_FLOAT8 = 0x20000008
_DATETIME = 0x21000008
_ANSI_STRING = 0x4001FFFF


class PTUFileError(ValueError):
    """A file that is not a readable PTU file, or tags a T3 record cannot hold."""


# ------------------------------------------------------------------- reading
def read_ptu(path: str | os.PathLike) -> TimeTags:
    """Read the time tags of a PicoQuant PTU file (T2 or T3 records) with ptufile.

    Raises FileNotFoundError for a missing file and PTUFileError (a ValueError) for a
    file that is not a complete PTU file of T2 or T3 records.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise PTUFileError(f"{path} is a directory, not a PTU file")
    size = path.stat().st_size
    if size < _MIN_HEADER:
        raise PTUFileError(
            f"{path}: not a readable PTU file ({size} bytes; a PTU header alone takes more)"
        )
    with _ptufile_messages() as messages:
        try:
            ptu = ptufile.PtuFile(path)
        except NameError:  # ptufile's tag loop ran out of bytes before Header_End
            raise PTUFileError(f"{path}: not a readable PTU file (truncated header)") from None
        except Exception as e:  # noqa: BLE001 (any failure of the foreign parser: a bad file)
            raise PTUFileError(f"{path}: not a readable PTU file ({_one_line(e)})") from None
        with ptu:
            try:
                return _read(ptu, path)
            except PTUFileError:
                raise
            except KeyError as e:
                why = f"; ptufile: {messages[0]}" if messages else ""
                raise PTUFileError(f"{path}: damaged PTU file: no tag {e}{why}") from None
            except (TypeError, ValueError, OSError, OverflowError, ArithmeticError) as e:
                raise PTUFileError(f"{path}: damaged PTU file ({_one_line(e)})") from None


@contextlib.contextmanager
def _ptufile_messages():
    """Collect what ptufile logs while reading, instead of printing it on stderr."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(_one_line(Exception(record.getMessage())))

    logger = logging.getLogger("ptufile")
    handler, propagate = Collect(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _read(ptu, path: Path) -> TimeTags:
    tags = ptu.tags
    rectype = int(tags["TTResultFormat_TTTRRecType"])
    t3 = int(tags["Measurement_Mode"]) == 3
    supported = T3_RECORD_TYPES if t3 else T2_RECORD_TYPES
    if rectype not in supported:
        mode = "T3" if t3 else f"measurement mode {tags['Measurement_Mode']}"
        raise PTUFileError(
            f"{path}: record type 0x{rectype:08x} in {mode} is not a T2 or T3 record "
            "type that ptufile decodes"
        )
    if int(tags.get("TTResultFormat_BitsPerRecord", 32)) not in (0, 32):
        raise PTUFileError(f"{path}: records of {tags['TTResultFormat_BitsPerRecord']} bits")
    available, rest = divmod(path.stat().st_size - ptu.record_offset, 4)
    declared = _whole(tags.get("TTResult_NumberOfRecords", 0), "TTResult_NumberOfRecords", path)
    if declared < 0:
        raise PTUFileError(
            f"{path}: damaged header: TTResult_NumberOfRecords = {declared}, a record count "
            "cannot be negative"
        )
    if declared > available:
        raise PTUFileError(
            f"{path}: truncated: the header declares {declared} records but the file "
            f"holds {available}"
        )
    if declared <= 0 and rest:
        raise PTUFileError(f"{path}: truncated in the middle of a record")
    n_records = declared if declared > 0 else available

    global_ps = _time_tag(tags, "MeasDesc_GlobalResolution", path)
    if t3:
        period_ps = global_ps
        if "photonmc_PeriodPs" in tags:
            period_ps = _positive(tags["photonmc_PeriodPs"], "photonmc_PeriodPs", "ps", path)
        resolution_ps = _time_tag(tags, "MeasDesc_Resolution", path)
    else:
        sync_rate = _number(tags.get("TTResult_SyncRate", 0) or 0, "TTResult_SyncRate", path)
        period_ps = units.PS_PER_S / sync_rate if sync_rate > 0 else None
        if period_ps is not None and not (math.isfinite(period_ps) and period_ps > 0):
            period_ps = None  # a sync rate beyond any clock: no usable period
        resolution_ps = global_ps
    first_shot = _whole(tags.get("photonmc_FirstShot", 0), "photonmc_FirstShot", path)

    channel, time_ps, shot = _decode(ptu, n_records, rectype, t3)
    if t3:
        last = float(shot[-1]) + first_shot if shot.size else 0.0
        reach = max(abs(float(first_shot)), abs(last)) * period_ps
        reach += float(time_ps.max()) * resolution_ps if time_ps.size else 0.0
        if reach >= _MAX_TIME_PS:
            raise PTUFileError(
                f"{path}: damaged header: its times reach {reach:.3g} ps, beyond the int64 "
                f"range of ps (photonmc_FirstShot = {first_shot}, period {period_ps!r} ps)"
            )
        shot += first_shot
        time_ps = shot_clock_ps(shot, period_ps) + _scale(time_ps, resolution_ps)
        offsets = _offsets(tags, path)
        if offsets.size:
            if channel.size and int(channel.max()) >= offsets.size:
                raise PTUFileError(
                    f"{path}: damaged header: photonmc_TcspcOffsetPs has {offsets.size} "
                    f"channels, but a record has channel {int(channel.max())}"
                )
            time_ps = time_ps + offsets[channel]
    else:
        if time_ps.size and float(time_ps.max()) * global_ps >= _MAX_TIME_PS:
            raise PTUFileError(
                f"{path}: damaged header: times of {global_ps!r} ps units pass the int64 "
                "range of ps"
            )
        time_ps = _scale(time_ps, global_ps)
        shot = None
    names = tags.get("photonmc_ChannelName") or ()
    if isinstance(names, str):
        names = (names,)
    duration = tags.get("photonmc_DurationPs")
    if duration is None or duration < 0:
        ms = float(tags.get("MeasDesc_AcquisitionTime", 0) or 0)
        duration = round(ms * units.PS_PER_MS) if ms > 0 else None
    try:
        return TimeTags(
            channel=channel,
            time_ps=time_ps,
            shot=shot,
            period_ps=period_ps,
            channels=tuple(names),
            resolution_ps=resolution_ps,
            duration_ps=duration,
        )
    except ValueError as e:
        raise PTUFileError(f"{path}: {_one_line(e)}") from None


def _decode(ptu, n_records: int, rectype: int, t3: bool):
    """Decode the records in blocks with ptufile; (channel, time or dtime, nsync)."""
    raw = ptu.read_records(memmap=True)[:n_records] if n_records else np.zeros(0, np.uint32)
    channels, values, syncs = [], [], []
    overflow = np.uint64(0)
    for i in range(0, n_records, _READ_BLOCK):
        block = np.empty(min(_READ_BLOCK, n_records - i) + 1, np.uint32)
        block[:-1] = raw[i : i + block.size - 1]
        # A zero record decodes as an event at the current overflow count: it carries the
        # count from block to block, since ptufile starts each call at zero.
        block[-1] = 0
        decoded = ptu.decode_records(block)
        time = decoded["time"][:-1] + overflow
        overflow = overflow + decoded["time"][-1]
        channel = decoded["channel"][:-1].astype(np.int16)
        if not t3 and rectype in _T2_SYNC_EVENT_TYPES:
            r = block[:-1]
            channel[((r >> 31) == 1) & (((r >> 25) & 63) == 0)] = SYNC_CHANNEL
        photon = channel >= 0
        channels.append(channel[photon].astype(np.uint8))
        if t3:
            values.append(decoded["dtime"][:-1][photon].astype(np.int64))
            syncs.append(time[photon].astype(np.int64))
        else:
            values.append(time[photon].astype(np.int64))
    del raw
    channel = np.concatenate(channels) if channels else np.zeros(0, np.uint8)
    value = np.concatenate(values) if values else np.zeros(0, np.int64)
    nsync = np.concatenate(syncs) if syncs else np.zeros(0, np.int64)
    return channel, value, nsync


def _offsets(tags, path: Path) -> np.ndarray:
    """photonmc_TcspcOffsetPs of each channel (int64 ps; empty when the tag is absent)."""
    value = tags.get("photonmc_TcspcOffsetPs")
    if value is None:
        return np.zeros(0, np.int64)
    values = value if isinstance(value, list | tuple) else [value]
    return np.array([_whole(v, "photonmc_TcspcOffsetPs", path) for v in values], np.int64)


def _number(value, ident: str, path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise PTUFileError(f"{path}: damaged header: {ident} must be a number, got {value!r}")
    return float(value)


def _whole(value, ident: str, path: Path) -> int:
    x = _number(value, ident, path)
    if not (math.isfinite(x) and x.is_integer()):
        raise PTUFileError(f"{path}: damaged header: {ident} must be a whole number, got {x!r}")
    return int(value)


def _positive(value, ident: str, unit: str, path: Path) -> float:
    x = _number(value, ident, path)
    if not (math.isfinite(x) and x > 0):
        raise PTUFileError(
            f"{path}: damaged header: {ident} must be finite and > 0 {unit}, got {x!r}"
        )
    return x


def _time_tag(tags, ident: str, path: Path) -> float:
    """A resolution tag (seconds) in ps: finite, > 0, and no longer than an hour."""
    seconds = _positive(tags[ident], ident, "s", path)
    if seconds > 3600.0:
        raise PTUFileError(f"{path}: damaged header: {ident} = {seconds!r} s is over an hour")
    ps = _clean_ps(seconds * units.PS_PER_S)
    if not ps > 0:
        raise PTUFileError(f"{path}: damaged header: {ident} = {seconds!r} s rounds to 0 ps")
    return ps


def _scale(ticks: np.ndarray, unit_ps: float) -> np.ndarray:
    if float(unit_ps).is_integer():
        return ticks * np.int64(unit_ps)
    return np.rint(ticks * float(unit_ps)).astype(np.int64)


def _clean_ps(x: float) -> float:
    """A time in ps read from seconds, with float noise (4.000000000000001) removed."""
    r = round(x, 6)
    return float(round(r)) if abs(r - round(r)) < 1e-6 else r


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


# ------------------------------------------------------------------- writing
class PTUWriter(StreamingFile):
    """Stream time tags into a PicoQuant PTU file of T3 point-mode records (atomic).

    Args:
        path: target file (.ptu). An existing file is an error unless `force`.
        channels: detector channel names (at most 64; channel c is record channel c).
        period_ps: shot period in ps; sync n of the file is shot `first_shot + n`.
        resolution_ps: base dtime unit in whole ps (default 1); doubled until a period
            fits into the 15-bit dtime (32768 bins), as the HydraHarp's binning does.
        first_shot: shot of sync 0 of the file; default: shot 0, or the shot of the
            earliest tag's sync if that is earlier. A tag before sync 0 is a PTUFileError.
        tcspc_offsets_ps: whole ps subtracted from each channel's absolute times before
            the sync and dtime are computed (default 0; see the module docstring), written
            as `photonmc_TcspcOffsetPs` and added back by `read_ptu`.
        fibre_delays_ps: each channel's fixed fibre delay in ps, recorded as
            `photonmc_FibreDelayPs` (information only; default none).
        comment: `File_Comment`.
        reorder_window_ps: how far chunks may overlap in time (see OrderedStream).

    Use as a context manager or call `close()`; `abort()` discards the file.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        channels: Sequence[str],
        period_ps: float,
        resolution_ps: float = 1.0,
        first_shot: int | None = None,
        tcspc_offsets_ps: Sequence[int] | None = None,
        fibre_delays_ps: Sequence[float] | None = None,
        comment: str = "",
        force: bool = False,
        reorder_window_ps: int = 1_000_000,
    ) -> None:
        self.path = Path(path)
        self._stream = OrderedStream(
            channels=channels,
            period_ps=period_ps,
            resolution_ps=None,
            shots=None,
            reorder_window_ps=reorder_window_ps,
        )
        self.channels = self._stream.template.channels
        if len(self.channels) > _MAX_CHANNEL + 1:
            raise ValueError(f"PTU T3 records hold 64 channels, got {len(self.channels)}")
        period = float(period_ps)
        if not (math.isfinite(period) and period >= 1.0):
            raise ValueError(f"PTUWriter.period_ps must be >= 1 ps, got {period_ps}")
        if not float(resolution_ps).is_integer() or resolution_ps < 1:
            raise ValueError(
                f"PTUWriter.resolution_ps must be a whole number of ps >= 1, got {resolution_ps}"
            )
        n = len(self.channels)
        self.tcspc_offsets_ps = _per_channel(tcspc_offsets_ps, n, "tcspc_offsets_ps", whole=True)
        self.fibre_delays_ps = _per_channel(fibre_delays_ps, n, "fibre_delays_ps", whole=False)
        # indexed by channel; channels beyond the names are refused by the stream
        self._shift = np.zeros(SYNC_CHANNEL + 1, np.int64)
        if self.tcspc_offsets_ps is not None:
            self._shift[:n] = self.tcspc_offsets_ps
        resolution = int(resolution_ps)
        while math.ceil(period) - 1 >= _DTIME_BINS * resolution:
            resolution *= 2
        self.period_ps = period
        self.resolution_ps = resolution
        self.first_shot = None if first_shot is None else int(first_shot)
        self.n_records = 0
        self._wraps = 0  # 1024-sync wraps already written
        check_writable(self.path, force)
        self._tmp = temporary_path(self.path)
        header, self._patch = _header(
            channels=self.channels,
            period_ps=period,
            resolution_ps=resolution,
            comment=comment,
            tcspc_offsets_ps=self.tcspc_offsets_ps,
            fibre_delays_ps=self.fibre_delays_ps,
        )
        with naming_target(self.path, self._tmp):
            self._file = open(self._tmp, "xb")  # noqa: SIM115 (closed in close/abort)
        try:
            self._file.write(header)
        except BaseException:
            self.abort()
            raise

    def write(self, tags: TimeTags) -> None:
        """Append a chunk of tags (the file's channels and period)."""
        if self.tcspc_offsets_ps is not None and isinstance(tags, TimeTags) and len(tags):
            # shifted before ordering: the records follow the shifted syncs
            tags = dataclasses.replace(tags, time_ps=tags.time_ps - self._shift[tags.channel])
        super().write(tags)

    def _finish(self) -> None:
        """Patch the record count, first shot and duration into the header."""
        duration = self._stream.duration_ps
        f = self._file
        f.seek(self._patch["TTResult_NumberOfRecords"])
        f.write(struct.pack("<q", self.n_records))
        f.seek(self._patch["photonmc_FirstShot"])
        f.write(struct.pack("<q", self.first_shot or 0))
        if duration is not None:
            f.seek(self._patch["MeasDesc_AcquisitionTime"])
            f.write(struct.pack("<q", round(duration / units.PS_PER_MS)))
            f.seek(self._patch["photonmc_DurationPs"])
            f.write(struct.pack("<q", duration))
        f.close()

    def _append(self, tags: TimeTags) -> None:
        if np.any(tags.channel == SYNC_CHANNEL):
            raise PTUFileError(
                f"{self.path}: T3 records hold no sync tags (the sync is the record's clock)"
            )
        for i in range(0, len(tags), _WRITE_BLOCK):
            j = i + _WRITE_BLOCK
            records = self._encode(tags.channel[i:j], tags.time_ps[i:j])
            self._file.write(records.tobytes())
            self.n_records += records.size

    def _encode(self, channel: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Records of tags in time order: photons, each preceded by its overflows."""
        shot = sync_index(t, self.period_ps)
        if self.first_shot is None:  # the first tags written are the earliest
            self.first_shot = min(0, int(shot[0]))
        nsync = shot - self.first_shot
        if nsync[0] < 0:
            first = int(shot_clock_ps(np.array([self.first_shot]), self.period_ps)[0])
            raise PTUFileError(
                f"{self.path}: a tag at {int(t[0])} ps precedes sync 0 of the file "
                f"(shot {self.first_shot} at {first} ps); give a smaller first_shot"
            )
        dtime = (t - shot_clock_ps(shot, self.period_ps)) // self.resolution_ps
        photons = (
            (channel.astype(np.uint32) << 25)
            | (dtime.astype(np.uint32) << 10)
            | (nsync % _NSYNC_WRAP).astype(np.uint32)
        )
        wraps = nsync // _NSYNC_WRAP
        step = np.diff(wraps, prepend=self._wraps)
        self._wraps = int(wraps[-1])
        owners = np.flatnonzero(step)
        if owners.size == 0:
            return photons
        # Photon i whose sync count passed w_i wraps since the previous tag follows
        # ceil(w_i / 1023) overflow records: 1023 wraps each, the last the remainder.
        n = (step[owners] + _MAX_WRAPS_PER_RECORD - 1) // _MAX_WRAPS_PER_RECORD
        owner = np.repeat(np.arange(owners.size), n)
        rank = np.arange(owner.size) - np.repeat(np.cumsum(n) - n, n)
        remainder = step[owners] - _MAX_WRAPS_PER_RECORD * (n - 1)
        count = np.where(rank == n[owner] - 1, remainder[owner], _MAX_WRAPS_PER_RECORD)
        return np.insert(photons, owners[owner], _OVERFLOW | count.astype(np.uint32))


def _per_channel(values, n: int, name: str, *, whole: bool):
    """A per-channel list of n numbers (whole ps when `whole`), or None; checked."""
    if values is None:
        return None
    out = [float(v) for v in values]
    if len(out) != n:
        raise ValueError(f"PTUWriter.{name} needs one value per channel ({n}), got {len(out)}")
    for v in out:
        if not math.isfinite(v) or abs(v) >= _MAX_TIME_PS / 4 or (whole and not v.is_integer()):
            kind = "whole numbers of ps" if whole else "finite numbers of ps"
            raise ValueError(f"PTUWriter.{name} must be {kind} within +-1e18 ps, got {v!r}")
    return [int(v) for v in out] if whole else out


def sync_index(t: np.ndarray, period_ps: float) -> np.ndarray:
    """Index of the latest sync at or before each time: clock(s) <= t < clock(s + 1)."""
    if float(period_ps).is_integer():
        return t // np.int64(period_ps)
    s = np.floor(t / period_ps).astype(np.int64)
    s -= shot_clock_ps(s, period_ps) > t
    s += shot_clock_ps(s + 1, period_ps) <= t
    return s


def write_ptu(path: str | os.PathLike, tags: TimeTags, *, force: bool = False, **kwargs) -> Path:
    """Write `tags` (with their period) as a T3 point-mode PTU file; returns the path.

    Keyword arguments go to PTUWriter (resolution_ps, first_shot, comment).
    """
    if tags.period_ps is None:
        raise ValueError(f"{path}: PTU T3 records need the shot period; these tags have none")
    with PTUWriter(
        path,
        channels=tags.channels,
        period_ps=tags.period_ps,
        force=force,
        reorder_window_ps=0,
        **kwargs,
    ) as writer:
        writer.write(tags.sorted())
    return Path(path)


# ------------------------------------------------------------------- header
def _tag(ident: str, value, index: int = -1, kind: int | None = None) -> bytes:
    name = ident.encode("ascii")
    if len(name) > 31:
        raise ValueError(f"PTU tag ident {ident!r} is longer than 31 characters")
    if kind is None:
        if value is None:
            kind = _EMPTY8
        elif isinstance(value, bool):
            kind = _BOOL8
        elif isinstance(value, int):
            kind = _INT8
        elif isinstance(value, float):
            kind = _FLOAT8
        elif isinstance(value, str):
            kind = _ANSI_STRING
        else:
            raise TypeError(f"no PTU tag type for {type(value).__name__}")
    head = struct.pack("<32siI", name, index, kind)
    if kind == _EMPTY8:
        return head + bytes(8)
    if kind in (_BOOL8, _INT8):
        return head + struct.pack("<q", int(value))
    if kind in (_FLOAT8, _DATETIME):
        return head + struct.pack("<d", float(value))
    data = value.encode("windows-1252", errors="replace") + b"\0"
    data += bytes(-len(data) % 8)
    return head + struct.pack("<q", len(data)) + data


def _header(
    *,
    channels,
    period_ps: float,
    resolution_ps: int,
    comment: str,
    tcspc_offsets_ps=None,
    fibre_delays_ps=None,
) -> tuple[bytes, dict[str, int]]:
    """The header bytes and the file offsets of the values patched at close."""
    now = _dt.datetime.now(_dt.UTC).replace(tzinfo=None)
    days = (now - _dt.datetime(1899, 12, 30)) / _dt.timedelta(days=1)
    guid = "{" + str(uuid.uuid4()).upper() + "}"
    entries = [
        ("File_GUID", guid),
        ("File_CreatingTime", (days, _DATETIME)),
        ("File_Comment", comment or "photonmc time tags"),
        ("CreatorSW_Name", "photonmc"),
        ("CreatorSW_Version", __version__),
        ("Measurement_Mode", 3),
        ("Measurement_SubMode", 1),
        ("HW_Type", "HydraHarp"),
        ("HW_InpChannels", len(channels)),
        ("TTResultFormat_TTTRRecType", RECORD_TYPE_HH2_T3),
        ("TTResultFormat_BitsPerRecord", 32),
        ("MeasDesc_BinningFactor", 1),
        ("MeasDesc_Resolution", resolution_ps / units.PS_PER_S),
        ("MeasDesc_GlobalResolution", period_ps / units.PS_PER_S),
        ("MeasDesc_AcquisitionTime", 0),
        ("TTResult_SyncRate", round(units.PS_PER_S / period_ps)),
        ("TTResult_NumberOfRecords", 0),
        ("photonmc_PeriodPs", float(period_ps)),
        ("photonmc_FirstShot", 0),
        ("photonmc_DurationPs", -1),
    ]
    parts = [b"PQTTTR\0\0", b"1.0.00\0\0"]
    offset = sum(len(p) for p in parts)
    patch = {}
    for ident, value in entries:
        kind = None
        if isinstance(value, tuple):
            value, kind = value
        if ident in _PATCHED:
            patch[ident] = offset + 40
        encoded = _tag(ident, value, kind=kind)
        parts.append(encoded)
        offset += len(encoded)
    for i, name in enumerate(channels):
        parts.append(_tag("photonmc_ChannelName", name, index=i))
    for i, delay in enumerate(fibre_delays_ps or ()):
        parts.append(_tag("photonmc_FibreDelayPs", float(delay), index=i))
    for i, offset in enumerate(tcspc_offsets_ps or ()):
        parts.append(_tag("photonmc_TcspcOffsetPs", int(offset), index=i))
    parts.append(_tag("Header_End", None))
    return b"".join(parts), patch
