"""`photonmc correlate`: g2(0) and the coincidence histogram of PTU and Photon-HDF5 files.

Runs through `photonmc.cli.main` once the command is wired there, else through a parser
with the same error handling, so the tests hold either way.
"""

from __future__ import annotations

import argparse
import json
import re

import numpy as np
import pytest
from test_timetags import PERIOD_PS, g2_closed_form, pulsed_tags

from photonmc import cli
from photonmc.io.correlation_hdf5 import read_correlation
from photonmc.io.photon_hdf5 import write_photon_hdf5
from photonmc.io.ptu import write_ptu
from photonmc.timetags import TimeTags


def photonmc(argv: list[str]) -> int:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "correlate" in sub.choices:
        return cli.main(argv)
    parser = cli._Parser(prog="photonmc")
    cli.add_correlate_parser(parser.add_subparsers(dest="command", required=True))
    try:
        return cli.cmd_correlate(parser.parse_args(argv))
    except (cli.UsageError, ValueError, OSError) as e:
        return cli._fail(e)


SNR = 5.0


@pytest.fixture(scope="module")
def hbt():
    return pulsed_tags(300_000, SNR * 0.04, 0.04, seed=41)


@pytest.fixture
def files(tmp_path, hbt):
    return {
        "ptu": write_ptu(tmp_path / "hbt.ptu", hbt),
        "h5": write_photon_hdf5(tmp_path / "hbt.h5", hbt),
    }


def run_json(capsys, argv):
    assert photonmc(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    return json.loads(out)


def test_g2_of_ptu_and_photon_hdf5_files(tmp_path, capsys, files, hbt):
    results = {}
    for kind, path in files.items():
        out = tmp_path / f"{kind}_g2.h5"
        results[kind] = s = run_json(capsys, ["correlate", str(path), "--json", "--out", str(out)])
        assert s["input"] == str(path) and s["output"] == str(out)
        g2 = s["g2_0"]
        assert abs(g2["value"] - g2_closed_form(SNR)) < 5 * g2["stderr"]
        assert s["channels"] == [0, 1] and s["channel_names"] == ["a", "b"]
        assert s["period_ps"] == PERIOD_PS and s["side_peaks"] == 5
        assert s["histogram"]["range_ps"] == 68_800 and s["histogram"]["bins"] == 1376
        saved = read_correlation(out)
        counts, edges = hbt.coincidences(0, 1, 100, 68_800)
        assert np.array_equal(saved["counts"], counts)
        assert np.array_equal(saved["bin_edges_ps"], edges)
        assert saved["counts"].sum() == s["histogram"]["coincidences"]
        assert saved["peak_counts"].tolist() == s["peaks"]["counts"]
        assert saved["g2_0"].value == g2["value"]
        assert saved["attrs"]["source"] == str(path)
    strip = {"input", "output"}
    assert {k: v for k, v in results["ptu"].items() if k not in strip} == {
        k: v for k, v in results["h5"].items() if k not in strip
    }


def test_options_and_default_output(tmp_path, capsys, files, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["correlate", str(files["ptu"]), "--range-ns", "30", "--bin-ps", "250"]
    argv += ["--channels", "1,0"]
    assert photonmc(argv) == 0
    text = capsys.readouterr().out
    assert "g2(0)" in text and "hbt_correlation.h5" in text and "k = -1..1" in text
    saved = read_correlation(tmp_path / "hbt_correlation.h5")
    assert saved["counts"].size == 240 and saved["peak_counts"].size == 3
    assert photonmc(argv) == 2
    assert "already exists; use --force" in capsys.readouterr().err
    assert photonmc([*argv, "--force", "--rep-rate-mhz", "80"]) == 0


def test_t2_like_files_need_a_repetition_rate(tmp_path, capsys, hbt):
    path = write_photon_hdf5(
        tmp_path / "cw.h5", TimeTags(hbt.channel, hbt.time_ps, channels=hbt.channels)
    )
    out = str(tmp_path / "o.h5")
    assert photonmc(["correlate", str(path), "--out", out]) == 2
    assert "records no repetition period; give --rep-rate-mhz" in capsys.readouterr().err
    s = run_json(capsys, ["correlate", str(path), "--out", out, "--rep-rate-mhz", "80", "--json"])
    assert abs(s["g2_0"]["value"] - g2_closed_form(SNR)) < 5 * s["g2_0"]["stderr"]


def test_user_errors_are_one_line(tmp_path, capsys, files):
    only_a = pulsed_tags(1000, 0.5, 0.0, seed=42).select([0])
    empty = TimeTags(np.zeros(0), np.zeros(0), np.zeros(0), PERIOD_PS, ("a", "b"))
    (tmp_path / "bad.ptu").write_bytes(b"PQTTTR\0\0" + bytes(100))
    (tmp_path / "tags.txt").write_text("1 2 3\n")
    cases = [
        (["nope.ptu"], "no such file"),
        ([str(tmp_path / "tags.txt")], "unknown time-tag file type '.txt'"),
        ([str(tmp_path / "bad.ptu")], "damaged PTU file: no tag 'TTResultFormat_TTTRRecType'"),
        ([str(files["ptu"]), "--channels", "0,5"], "unknown channel 5"),
        ([str(files["ptu"]), "--channels", "0,0"], "must differ"),
        ([str(files["ptu"]), "--channels", "x"], "two integers"),
        ([str(files["ptu"]), "--range-ns", "10"], "no whole side peak"),
        ([str(files["ptu"]), "--range-ns", "20", "--bin-ps", "300"], "whole number of 300 ps"),
        ([str(files["ptu"]), "--bin-ps", "-1"], "must be > 0"),
        ([str(files["h5"]), "--out", str(files["h5"])], "would overwrite the input"),
        ([str(write_ptu(tmp_path / "a.ptu", only_a))], r"channel 1 \(b\) has no tags"),
        ([str(write_ptu(tmp_path / "e.ptu", empty))], r"channel 0 \(a\) has no tags"),
    ]
    for args, message in cases:
        out = tmp_path / "never.h5"
        argv = ["correlate", *args] + ([] if "--out" in args else ["--out", str(out)])
        assert photonmc(argv) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("photonmc: error: ") and err.count("\n") == 1, err
        assert message in err or re.search(message, err), (message, err)
        assert not out.exists()
