"""PicoQuant PTU: T3 files written by photonmc, checked with ptufile's own decoder.

Every file written here is read back by `ptufile` directly (its decoded records, not
photonmc's reader) and must give the same tags, histograms and g2(0) as the tags in
memory and as the Photon-HDF5 copy, including runs long enough to need many sync
overflow records. T2 files (with sync events) are built here with ptufile's tag
encoder and read with photonmc's reader. Damaged files give one clear error each.
"""

from __future__ import annotations

import os
import struct

import numpy as np
import ptufile
import pytest
from ptufile.ptufile import encode_tag
from test_timetags import PERIOD_PS, pulsed_tags

from photonmc.io import ptu as ptu_module
from photonmc.io.photon_hdf5 import read_photon_hdf5, write_photon_hdf5
from photonmc.io.ptu import PTUFileError, PTUWriter, read_ptu, write_ptu
from photonmc.timetags import SYNC_CHANNEL, TimeTags, concatenate, shot_clock_ps


def decoded_by_ptufile(path) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(channel, nsync, dtime) of the photon records as ptufile decodes them, and tags."""
    with ptufile.PtuFile(path) as ptu:
        assert ptu.type == ptufile.PqFileType.PTU
        assert ptu.record_type == ptufile.PtuRecordType.HydraHarp2T3
        assert ptu.measurement_mode == ptufile.PtuMeasurementMode.T3
        assert ptu.measurement_submode == ptufile.PtuMeasurementSubMode.POINT
        records = ptu.decode_records()
        tags = dict(ptu.tags)
        assert records.size == tags["TTResult_NumberOfRecords"]
    photon = records["channel"] >= 0
    r = records[photon]
    return r["channel"].astype(np.int64), r["time"].astype(np.int64), r["dtime"], tags


def tags_from_ptufile(path, first_shot: int = 0) -> TimeTags:
    """TimeTags rebuilt from ptufile's decoded records and the PicoQuant header tags."""
    channel, nsync, dtime, tags = decoded_by_ptufile(path)
    period_ps = tags["MeasDesc_GlobalResolution"] * 1e12
    resolution_ps = round(tags["MeasDesc_Resolution"] * 1e12)
    shot = nsync + first_shot
    return TimeTags(
        channel=channel,
        time_ps=shot_clock_ps(shot, round(period_ps, 6)) + dtime.astype(np.int64) * resolution_ps,
        shot=shot,
        period_ps=round(period_ps, 6),
        channels=("a", "b"),
    )


def records_bytes(path) -> bytes:
    with ptufile.PtuFile(path) as ptu:
        return path.read_bytes()[ptu.record_offset :]


def assert_same_tags(x: TimeTags, y: TimeTags) -> None:
    assert np.array_equal(x.time_ps, y.time_ps)
    assert np.array_equal(x.channel, y.channel)
    assert np.array_equal(x.shot, y.shot)


# ------------------------------------------------------------------ round trips
def test_t3_round_trip_through_ptufile_gives_the_same_histograms(tmp_path):
    tags = pulsed_tags(300_000, 0.3, 0.03, seed=21)
    path = write_ptu(tmp_path / "hbt.ptu", tags)
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
    via_ptufile = tags_from_ptufile(path)
    assert_same_tags(via_ptufile, tags)
    h5 = read_photon_hdf5(write_photon_hdf5(tmp_path / "hbt.h5", tags))
    for other in (via_ptufile, read_ptu(path), h5):
        for a, b in ((0, 1), (1, 0)):
            assert np.array_equal(
                other.coincidences(a, b, 250, 5.5 * PERIOD_PS)[0],
                tags.coincidences(a, b, 250, 5.5 * PERIOD_PS)[0],
            )
        assert np.array_equal(
            other.histogram(0, 20, (0, 8000))[0], tags.histogram(0, 20, (0, 8000))[0]
        )
        assert other.g2_zero(0, 1) == tags.g2_zero(0, 1)
    back = read_ptu(path)
    assert_same_tags(back, tags)
    assert back.channels == ("a", "b") and back.period_ps == PERIOD_PS
    assert back.duration_ps == tags.duration_ps and back.resolution_ps == 1.0


def test_long_runs_need_overflow_records(tmp_path, monkeypatch):
    # Sparse tags over 4e9 shots (13 hours at 80 MHz), with gaps of up to 2e9 shots:
    # far more than 1023 * 1024 syncs, so one gap takes many overflow records.
    rng = np.random.default_rng(22)
    shot = np.sort(
        np.concatenate(
            [
                rng.integers(0, 5_000_000, 3000),
                [1_047_552, 1_048_575, 1_048_576],
                4 * 10**9 + np.arange(5),
            ]
        )
    )
    rel = rng.integers(0, PERIOD_PS, shot.size)
    tags = TimeTags(
        rng.integers(0, 2, shot.size), shot * PERIOD_PS + rel, shot, PERIOD_PS, ("a", "b")
    )
    path = write_ptu(tmp_path / "long.ptu", tags)
    assert_same_tags(tags_from_ptufile(path), tags)
    assert_same_tags(read_ptu(path), tags)
    # Small blocks: the overflow count must carry across every block boundary.
    monkeypatch.setattr(ptu_module, "_WRITE_BLOCK", 37)
    monkeypatch.setattr(ptu_module, "_READ_BLOCK", 101)
    assert records_bytes(write_ptu(tmp_path / "blocks.ptu", tags)) == records_bytes(path)
    assert_same_tags(read_ptu(path), tags)
    with ptufile.PtuFile(path) as ptu:
        raw = ptu.read_records()
    special = (raw >> 31) == 1
    assert np.all(((raw[special] >> 25) & 63) == 63)  # every special record is an overflow
    counts = raw[special] & 1023
    assert counts.min() >= 1 and counts.max() == 1023
    assert counts.sum() == shot.max() // 1024  # every wrap of the 10-bit sync counter
    assert special.sum() > (4 * 10**9 // 1024) // 1023


def test_streaming_writer_equals_one_shot_write(tmp_path):
    tags = pulsed_tags(100_000, 0.3, 0.03, seed=23)
    n = len(tags)
    chunks = [
        TimeTags(tags.channel[i:j], tags.time_ps[i:j], tags.shot[i:j], PERIOD_PS, ("a", "b"))
        for i, j in ((0, n // 3), (n // 3, n // 2), (n // 2, n))
    ]
    with PTUWriter(tmp_path / "stream.ptu", channels=("a", "b"), period_ps=PERIOD_PS) as w:
        for chunk in chunks:
            w.write(chunk)
            assert not (tmp_path / "stream.ptu").exists()  # only the temporary file so far
    assert (tmp_path / "stream.ptu").exists()
    assert_same_tags(read_ptu(tmp_path / "stream.ptu"), concatenate(chunks))
    assert_same_tags(tags_from_ptufile(tmp_path / "stream.ptu"), tags)


def test_non_integer_period_and_tags_before_their_sync(tmp_path):
    period = 1e6 / 76.0  # 76 MHz: 13157.89... ps
    tags = pulsed_tags(50_000, 0.3, 0.03, seed=24, period_ps=period)
    assert_same_tags(read_ptu(write_ptu(tmp_path / "76.ptu", tags)), tags)
    # A tag 2 ns before shot 0's sync: sync 0 of the file is then shot -1, and T3 stores
    # the tag after the sync it follows (shot -1), its absolute time kept.
    early = TimeTags(np.array([0, 1]), np.array([-2000, 500]), np.array([0, 0]), period, ("a", "b"))
    back = read_ptu(write_ptu(tmp_path / "early.ptu", early))
    assert np.array_equal(back.time_ps, early.time_ps)
    assert np.array_equal(back.shot, [-1, 0])
    assert np.array_equal(
        tags_from_ptufile(tmp_path / "early.ptu", first_shot=-1).time_ps, [-2000, 500]
    )
    # A sync 0 given by hand must precede every tag.
    with pytest.raises(PTUFileError, match="precedes sync 0 .* first_shot"):
        write_ptu(tmp_path / "late.ptu", early, first_shot=0)
    assert list(tmp_path.glob("late*")) == [] and list(tmp_path.glob(".late*")) == []


def test_long_periods_coarsen_the_resolution(tmp_path):
    period = 100_000  # 10 MHz: 1e5 ps do not fit 32768 bins of 1 ps
    rng = np.random.default_rng(25)
    shot = np.arange(1000)
    rel = rng.integers(0, period, shot.size)
    tags = TimeTags(shot % 2, shot * period + rel, shot, period, ("a", "b"))
    back = read_ptu(write_ptu(tmp_path / "slow.ptu", tags))
    assert back.resolution_ps == 4.0
    assert np.array_equal(back.time_ps, shot * period + rel // 4 * 4)


def test_empty_record_files(tmp_path):
    empty = TimeTags(np.zeros(0), np.zeros(0), np.zeros(0), PERIOD_PS, ("a", "b"))
    path = write_ptu(tmp_path / "empty.ptu", empty)
    back = read_ptu(path)
    assert len(back) == 0 and back.channels == ("a", "b")
    with ptufile.PtuFile(path) as ptu:
        assert ptu.decode_records().size == 0


# ------------------------------------------------------------------ T2 files
def write_t2_file(path, channel, time_ps, n_syncs, sync_period_ps) -> None:
    """A HydraHarp V2 T2 file (1 ps resolution, sync events), header by ptufile."""
    sync_t = np.arange(n_syncs, dtype=np.int64) * sync_period_ps
    t = np.concatenate([sync_t, time_ps])
    special = np.concatenate([np.ones(n_syncs, bool), np.zeros(time_ps.size, bool)])
    code = np.concatenate([np.zeros(n_syncs, np.int64), channel])
    order = np.argsort(t, kind="stable")
    records, wraps = [], 0
    for ti, si, ci in zip(t[order], special[order], code[order], strict=True):
        while ti // 2**25 > wraps:
            records.append((1 << 31) | (63 << 25) | 1)
            wraps += 1
        records.append((int(si) << 31) | (int(ci) << 25) | int(ti % 2**25))
    records = np.array(records, np.uint32)
    header = b"PQTTTR\0\0" + b"1.0.00\0\0"
    for ident, value in (
        ("File_GUID", "{6C1E0C66-2A4D-4B64-9A3E-2F6B3C0E9D10}"),
        ("Measurement_Mode", 2),
        ("Measurement_SubMode", 1),
        ("TTResultFormat_TTTRRecType", 0x01010204),
        ("TTResultFormat_BitsPerRecord", 32),
        ("MeasDesc_GlobalResolution", 1e-12),
        ("MeasDesc_Resolution", 1e-12),
        ("TTResult_SyncRate", round(1e12 / sync_period_ps)),
        ("TTResult_NumberOfRecords", int(records.size)),
        ("Header_End", None),
    ):
        header += encode_tag(ident, value)
    path.write_bytes(header + records.tobytes())


def test_t2_files_keep_the_sync_apart_from_channel_0(tmp_path, monkeypatch):
    tags = pulsed_tags(20_000, 0.3, 0.05, seed=26)  # spans 250 us: 7 timetag overflows
    path = tmp_path / "t2.ptu"
    write_t2_file(path, tags.channel.astype(np.int64), tags.time_ps, 20_000, PERIOD_PS)
    back = read_ptu(path)
    assert back.shot is None and back.period_ps == PERIOD_PS
    monkeypatch.setattr(ptu_module, "_READ_BLOCK", 333)
    assert np.array_equal(read_ptu(path).time_ps, back.time_ps)
    detectors = back.channel != SYNC_CHANNEL
    assert np.count_nonzero(~detectors) == 20_000
    assert np.array_equal(back.time_ps[detectors], tags.time_ps)
    assert np.array_equal(back.channel[detectors], tags.channel)
    by_sync = back.histogram(0, 20, (0, 8000), sync=SYNC_CHANNEL)[0]
    assert np.array_equal(by_sync, tags.histogram(0, 20, (0, 8000))[0])
    assert back.g2_zero(0, 1) == tags.g2_zero(0, 1)


# ------------------------------------------------------------------ bad files
@pytest.fixture
def good_ptu(tmp_path):
    return write_ptu(tmp_path / "good.ptu", pulsed_tags(2000, 0.3, 0.03, seed=27))


def damaged(path, data: bytes, name: str = "bad"):
    bad = path.with_name(f"{name}.ptu")
    bad.write_bytes(data)
    return bad


def test_truncated_and_corrupt_files_are_clear_errors(good_ptu, tmp_path):
    data = good_ptu.read_bytes()
    cases = {
        "missing": (tmp_path / "nope.ptu", FileNotFoundError, "no such file"),
        "directory": (tmp_path, PTUFileError, "is a directory"),
        "empty": (damaged(good_ptu, b"", "empty"), PTUFileError, "not a readable PTU file"),
        "garbage": (
            damaged(good_ptu, os.urandom(4000), "garbage"),
            PTUFileError,
            "not a readable PTU",
        ),
        "header cut": (damaged(good_ptu, data[:300], "header"), PTUFileError, "not a readable PTU"),
        "records cut": (
            damaged(good_ptu, data[:-10], "records"),
            PTUFileError,
            "truncated: the header",
        ),
    }
    for name, (path, error, message) in cases.items():
        with pytest.raises(error, match=message) as info:
            read_ptu(path)
        assert "\n" not in str(info.value), name
        assert isinstance(info.value, ValueError | FileNotFoundError), name


def test_unknown_record_type_is_a_clear_error(good_ptu):
    data = bytearray(good_ptu.read_bytes())
    at = data.find(b"TTResultFormat_TTTRRecType") + 40
    data[at : at + 8] = struct.pack("<q", 0x12345678)
    with pytest.raises(PTUFileError, match="record type 0x12345678"):
        read_ptu(damaged(good_ptu, bytes(data)))


def test_writer_refuses_what_t3_cannot_hold_and_leaves_no_file(tmp_path):
    path = tmp_path / "x.ptu"
    sync = TimeTags(np.array([0, SYNC_CHANNEL]), np.array([5, 6]), np.array([0, 0]), PERIOD_PS)
    with pytest.raises(PTUFileError, match="no sync tags"):
        write_ptu(path, sync)
    with pytest.raises(ValueError, match="64 channels"):
        PTUWriter(path, channels=[f"c{i}" for i in range(65)], period_ps=PERIOD_PS)
    with pytest.raises(ValueError, match="shot period"):
        write_ptu(path, TimeTags(np.array([0]), np.array([5])))
    with pytest.raises(RuntimeError, match="boom"):
        with PTUWriter(path, channels=("a",), period_ps=PERIOD_PS) as w:
            w.write(TimeTags(np.array([0]), np.array([5]), np.array([0]), PERIOD_PS))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    write_ptu(path, pulsed_tags(100, 0.5, 0.0, seed=28))
    with pytest.raises(FileExistsError, match="--force"):
        write_ptu(path, pulsed_tags(100, 0.5, 0.0, seed=28))
    write_ptu(path, pulsed_tags(200, 0.5, 0.0, seed=29), force=True)
    assert len(read_ptu(path)) == len(pulsed_tags(200, 0.5, 0.0, seed=29))


# ------------------------------------------------ the fixed fibre delay and TCSPC times
def long_fibre_hbt_link():
    """An HBT link behind some 10 km of fibre whose delay D leaves a remainder of 11.7 ns
    of the 12.5 ns period: without an offset, the T3 dtime (D mod T + t) splits a decay
    at t = 0.8 ns between the end and the start of the period."""
    import photonmc as pmc

    def link(km):
        return pmc.Link(
            [
                pmc.QuantumDot(rep_rate_mhz=80.0, lifetime_ns=0.6, mean_photon_number=0.6),
                pmc.Fiber(length_km=km),
                pmc.BeamSplitter(),
                pmc.Detector(
                    efficiency=0.8,
                    dark_count_rate_hz=2e5,
                    jitter_fwhm_ps=80.0,
                    name="a",
                    branch="bs.transmitted",
                ),
                pmc.Detector(
                    efficiency=0.8, dark_count_rate_hz=2e5, name="b", branch="bs.reflected"
                ),
            ],
            pmc.TimeTagger(bin_width_ps=100.0, window_start_ns=-1.0, window_stop_ns=11.5),
        )

    per_km = link(1.0).delay_to(link(1.0).detectors[0])
    km = (3917 * 12.5 + 11.7) / per_km
    lk = link(km)
    assert abs(lk.delay_to(lk.detectors[0]) % 12.5 - 11.7) < 1e-6
    return lk


@pytest.fixture(scope="module")
def fibre_run(tmp_path_factory):
    """The run's click records, its PTU file as written now and as written before the
    TCSPC offsets (no offsets: the plain absolute times), and the link."""
    import photonmc as pmc
    from photonmc.io.timetag_files import simulation_writer

    link = long_fibre_hbt_link()
    tmp = tmp_path_factory.mktemp("fibre")
    parts = []
    writer, feed = simulation_writer(tmp / "now.ptu", link)

    def on_records(records):
        parts.append(records)
        feed(records)

    with writer:
        pmc.simulate(link, 200_000, key=4, chunk_shots=1 << 15, on_records=on_records)
    rec = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    tags = TimeTags(rec["channel"], rec["time_ps"], rec["shot"], PERIOD_PS, ("a", "b"))
    before = write_ptu(tmp / "before.ptu", tags)
    return link, rec, tags, tmp / "now.ptu", before


def test_fibre_delay_is_in_the_header_and_the_dtime_shows_one_decay(fibre_run):
    link, rec, tags, now, before = fibre_run
    delays = [1e3 * link.delay_to(d) for d in link.detectors]
    offsets = [round(d - 1000.0) for d in delays]  # D + sync offset (0) + window start
    assert len(set(offsets)) == 1  # one fibre before the splitter: one delay
    by_time = np.lexsort((rec["channel"], rec["time_ps"]))

    def photon_dtimes_ns(path, offset_ps):
        """dtime (ns) of the source's photons, matched to the records by absolute time."""
        channel, nsync, dtime, header = decoded_by_ptufile(path)
        clock = shot_clock_ps(nsync + header["photonmc_FirstShot"], PERIOD_PS)
        absolute = clock + dtime.astype(np.int64) + offset_ps
        order = np.lexsort((channel, absolute))
        assert np.array_equal(absolute[order], rec["time_ps"][by_time])
        return dtime[order][rec["origin"][by_time] == 0] * 1e-3, header

    # the photons' dtime: one decay starting 1 ns (minus the window start) after the sync
    d_ns, header = photon_dtimes_ns(now, offsets[0])
    assert header["photonmc_FibreDelayPs"] == pytest.approx(delays, abs=1e-6)
    assert header["photonmc_TcspcOffsetPs"] == offsets
    assert header["MeasDesc_Resolution"] == pytest.approx(1e-12)
    assert np.mean(d_ns < 1.0 + 8 * 0.6) > 0.99 and np.mean(d_ns > 11.5) < 1e-3
    counts, _ = np.histogram(d_ns, bins=125, range=(0.0, 12.5))
    assert np.argmax(counts) in (9, 10, 11)  # the rise at 1 ns
    # written as before (no offset): the decay wraps, 0.8 ns of it at the period's end
    old_ns, old_header = photon_dtimes_ns(before, 0)
    assert "photonmc_TcspcOffsetPs" not in old_header
    assert np.mean(old_ns < 1.0) > 0.2  # the part after the wrap
    # every dtime is the click's time since its own shot's sync after the offset
    t = tags.time_ps - np.take(offsets, tags.channel) - shot_clock_ps(tags.shot, PERIOD_PS)
    inside = (t >= 0) & (t < PERIOD_PS)
    assert inside.mean() > 0.999
    back = read_ptu(now)
    order = np.lexsort((tags.channel, tags.time_ps))
    back_order = np.lexsort((back.channel, back.time_ps))
    assert np.array_equal(back.time_ps[back_order], tags.time_ps[order])
    assert np.array_equal(back.channel[back_order], tags.channel[order])
    # the record's sync is the shot that emitted the photon (its shifted time in [0, T))
    assert np.array_equal(back.shot[back_order][inside[order]], tags.shot[order][inside[order]])


def test_files_with_and_without_offsets_give_the_same_g2_and_histograms(
    fibre_run, tmp_path, capsys
):
    import json

    from photonmc import cli

    link, _, tags, now, before = fibre_run
    new, old = read_ptu(now), read_ptu(before)
    range_ps = 5.5 * PERIOD_PS
    for a, b in ((0, 1), (1, 0)):
        reference = tags.coincidences(a, b, 100, range_ps)[0]
        assert np.array_equal(new.coincidences(a, b, 100, range_ps)[0], reference)
        assert np.array_equal(old.coincidences(a, b, 100, range_ps)[0], reference)
    assert new.g2_zero(0, 1) == old.g2_zero(0, 1) == tags.g2_zero(0, 1)
    # with the offsets the shots are the emitting ones: the shot-clock histogram of the
    # file is the one of the run's own tags (the fibre delay plus the histogram time)
    start = round(1e3 * link.delay_to(link.detectors[0])) - 1000
    window = (start, start + 12_500)
    for channel in (0, 1):
        assert np.array_equal(
            new.histogram(channel, 100, window)[0], tags.histogram(channel, 100, window)[0]
        )
    outputs = []
    for path in (now, before):
        out = tmp_path / f"{path.stem}_g2.h5"
        assert cli.main(["correlate", str(path), "--json", "--out", str(out)]) == 0
        s = json.loads(capsys.readouterr().out)
        outputs.append((s["g2_0"], s["histogram"]))
    assert outputs[0] == outputs[1]


def test_offsets_must_be_whole_ps_one_per_channel(tmp_path):
    with pytest.raises(ValueError, match="one value per channel"):
        PTUWriter(tmp_path / "x.ptu", channels=("a", "b"), period_ps=PERIOD_PS,
                  tcspc_offsets_ps=[1])  # fmt: skip
    with pytest.raises(ValueError, match="whole numbers of ps"):
        PTUWriter(tmp_path / "x.ptu", channels=("a",), period_ps=PERIOD_PS,
                  tcspc_offsets_ps=[1.5])  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_channels_behind_different_fibres_keep_their_times_and_shots(tmp_path):
    """One detector 1 km (4.9 us) behind the other: the channels' offsets differ by more
    than the default reorder window, and the writer still orders the shifted records."""
    import photonmc as pmc
    from photonmc.io.timetag_files import read_timetags, simulation_writer

    link = pmc.Link(
        [
            pmc.QuantumDot(rep_rate_mhz=80.0, lifetime_ns=0.6, mean_photon_number=0.6),
            pmc.BeamSplitter(),
            pmc.Detector(efficiency=0.8, dark_count_rate_hz=1e5, name="a", branch="bs.transmitted"),
            pmc.Fiber(length_km=1.0, name="late", branch="bs.reflected"),
            pmc.Detector(efficiency=0.8, dark_count_rate_hz=1e5, name="b", branch="bs.reflected"),
        ],
        pmc.TimeTagger(bin_width_ps=100.0, window_start_ns=-1.0, window_stop_ns=11.5),
    )
    parts = []
    writers = [simulation_writer(tmp_path / f"t.{ext}", link) for ext in ("ptu", "h5")]

    def on_records(records):
        parts.append(records)
        for _, feed in writers:
            feed(records)

    pmc.simulate(link, 50_000, key=1, chunk_shots=1 << 14, on_records=on_records)
    for writer, _ in writers:
        writer.close()
    rec = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((rec["channel"], rec["time_ps"]))
    for ext in ("ptu", "h5"):
        back = read_timetags(tmp_path / f"t.{ext}")
        back_order = np.lexsort((back.channel, back.time_ps))
        assert np.array_equal(back.time_ps[back_order], rec["time_ps"][order]), ext
        assert np.array_equal(back.shot[back_order], rec["shot"][order]), ext
    _, _, _, header = decoded_by_ptufile(tmp_path / "t.ptu")
    late = round(1e3 * link.delay_to(link.detectors[1]))
    assert header["photonmc_TcspcOffsetPs"] == [-1000, late - 1000]
