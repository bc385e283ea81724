"""Property-based tests: every input gets exit 2 with one error line, or exit 0 and a
finite result.

Inputs are generated with hypothesis: parameter values at and beyond every range of
`photonmc.parameters.RANGES` (so a new parameter is covered as soon as it has a range),
configs built from random keys and values, and damaged data files (cut short, bytes
flipped). Everything runs in-process through `photonmc.cli.main`; example counts are
small and fixed (`derandomize=True`) so the file stays fast and reproducible.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import tomllib
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_timetags import pulsed_tags

from photonmc import cli
from photonmc.io.datasets import DatasetError, load_histogram
from photonmc.io.photon_hdf5 import write_photon_hdf5
from photonmc.io.ptu import write_ptu
from photonmc.parameters import RANGES

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

SETTINGS = settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

#: One link with a stage of every type that a plain chain holds
CHAIN = """\
[run]
shots = 200
seed = 1
mode = "expected"
chunk_shots = 1024

[[stage]]
type = "QuantumDot"
name = "qd"
rep_rate_mhz = 80
lifetime_ns = 0.6
feeding_time_ns = 0.05
mean_photon_number = 0.5
g2 = 0.02
spectral_diffusion_fwhm_ghz = 0.5
dephasing_time_ns = 2.0

[[stage]]
type = "Fiber"
name = "fiber"
length_km = 1
dispersion_ps_per_nm_km = 17.0

[[stage]]
type = "BandpassFilter"
name = "filter"
fwhm_ghz = 10.0

[[stage]]
type = "LadderMemory"
name = "memory"
write_time_ns = 0.9
input_mode_fwhm_ns = 1.0
output_mode_fwhm_ns = 0.8
write_efficiency = 0.6
read_efficiency = 0.7
storage_time_ns = 1.0
lifetime_ns = 1.1
read_noise_photons = 0.01
write_noise_photons = 0.005
beat_terms = [[0.1, 0.3, 0.0]]
transmission = 0.0      # no unstored light: no write-dip table to build per example

[[stage]]
type = "Attenuator"
name = "attenuator"
loss_db = 1.0

[[stage]]
type = "Detector"
name = "detector"
efficiency = 0.8
dark_count_rate_hz = 2e4
jitter_fwhm_ps = 50.0
dead_time_ns = 5.0

[tagger]
bin_width_ps = 100.0
window_start_ns = -2.0
window_stop_ns = 8.0
"""

#: A link with a beam splitter (two detectors on its outputs)
SPLIT = """\
[run]
shots = 200
mode = "expected"

[[stage]]
type = "QuantumDot"
name = "qd"
rep_rate_mhz = 80
lifetime_ns = 0.6

[[stage]]
type = "BeamSplitter"
name = "bs"
reflectivity = 0.5

[[stage]]
type = "Detector"
name = "det_t"
branch = "bs.transmitted"

[[stage]]
type = "Detector"
name = "det_r"
branch = "bs.reflected"

[tagger]
bin_width_ps = 100.0
window_start_ns = -1.0
window_stop_ns = 9.0
"""


#: A HOM link (the interferometer's outputs on two detectors)
HOM = SPLIT.replace(
    'type = "BeamSplitter"\nname = "bs"\nreflectivity = 0.5',
    'type = "HOMInterferometer"\nname = "bs"',
)


def stage_names() -> dict[str, tuple[str, str]]:
    """(config, stage name) of every stage type, read from the configs above."""
    out = {}
    for key, text in (("chain", CHAIN), ("split", SPLIT), ("hom", HOM)):
        for table in tomllib.loads(text)["stage"]:
            out.setdefault(table["type"], (key, table["name"]))
    out["TimeTagger"] = ("chain", "tagger")
    # The physical memory, as shipped: simulate refuses it in one line until the engines
    # run it, so its parameters are checked for one clear line either way.
    out["OrcaMemory"] = ("orca", "memory")
    return out


STAGES = stage_names()


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("properties")
    (root / "chain.toml").write_text(CHAIN)
    (root / "split.toml").write_text(SPLIT)
    (root / "hom.toml").write_text(HOM)
    (root / "orca.toml").write_text((CONFIGS / "orca_case41.toml").read_text())
    tags = pulsed_tags(3000, 0.3, 0.03, seed=61)
    write_ptu(root / "good.ptu", tags)
    write_photon_hdf5(root / "good.h5", tags)
    edges = np.linspace(-2.0, 8.0, 41)
    np.savez(root / "good.npz", bin_edges_ns=edges, counts=np.arange(40.0))
    rows = "\n".join(f"{a:.3f},{c}" for a, c in zip(edges[:-1], range(40), strict=True))
    (root / "good.csv").write_text("bin_start_ns,counts\n" + rows + "\n")
    assert cli.main(["simulate", str(root / "chain.toml"), "--out", str(root / "r.h5")]) == 0
    return root


def call(argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def check_outcome(code: int, out: str, err: str, json_out: bool) -> dict | None:
    """Exit 2 with one `photonmc: error:` line, or exit 0 with finite output."""
    lines = [ln for ln in err.splitlines() if ln.strip() and "shot/s" not in ln]
    errors = [ln for ln in lines if ln.startswith("photonmc: error: ")]
    others = [ln for ln in lines if not ln.startswith(("photonmc: error: ", "photonmc: warning: "))]
    assert not others, err
    if code == 2:
        assert len(errors) == 1 and out == "", (out, err)
        return None
    assert code == 0 and not errors, (code, err)
    if json_out:
        result = json.loads(out)  # one object
        assert_finite(result)
        return result
    assert "nan" not in out.lower().split(), out
    return None


#: Keys whose value may be null in --json output
NULLABLE = ("seed", "photons_per_second", "retrieval_window_ns")


def assert_finite(obj, where="") -> None:
    if isinstance(obj, dict):
        flagged = obj.get("infinite") or obj.get("undefined")
        for k, v in obj.items():
            assert v is not None or k in NULLABLE or (flagged and k in ("value", "stderr")), (
                f"{where}.{k} is null"
            )
            assert_finite(v, f"{where}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            assert_finite(v, f"{where}[{i}]")
    elif isinstance(obj, float):
        assert math.isfinite(obj), where


def result_is_finite(path: Path) -> None:
    with h5py.File(path, "r") as f:
        for name, group in f["detectors"].items():
            for origin, ds in group["by_origin"].items():
                assert np.all(np.isfinite(ds[()])), (name, origin)


def toml_number(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(float(x))


# ------------------------------------------------------- parameter boundaries
def boundary_values(rng) -> list[float]:
    """The bounds, their float neighbours, a step beyond, and the extremes."""
    values = [0.0, 1.0, -1.0, 1e300, -1e300, 1e-300, math.inf, -math.inf, math.nan, 1e17]
    for bound in (rng.lo, rng.hi):
        if math.isfinite(bound):
            values += [
                bound,
                math.nextafter(bound, math.inf),
                math.nextafter(bound, -math.inf),
                bound + 1.0,
                bound - 1.0,
                bound * 2.0,
            ]
    return values


CASES = sorted(RANGES)


def value_strategy(rng):
    return st.sampled_from(boundary_values(rng)) | st.floats(allow_nan=True, allow_infinity=True)


@pytest.mark.parametrize("case", CASES, ids=[f"{t}.{f}" for t, f in CASES])
def test_every_parameter_at_and_beyond_its_range(work, case):
    type_name, field = case
    config, stage = STAGES[type_name]
    rng = RANGES[case]

    @SETTINGS
    @given(value_strategy(rng))
    def check(x):
        if field.startswith("beat_terms."):
            triple = [0.1, 0.3, 0.0]
            triple[["a", "f_ghz", "phi"].index(field.split(".")[1])] = x
            assignment = f"{stage}.beat_terms=[[{', '.join(toml_number(v) for v in triple)}]]"
        else:
            assignment = f"{stage}.{field}={toml_number(x)}"
        out_file = work / f"p_{type_name}_{field}.h5"
        # the physical memory in its analytic tier: the engines' path without a
        # Maxwell-Bloch compilation per example (the solver's grid at these values is
        # checked by its own guard, tests/test_orca_engine.py)
        tier = ["--set", "memory.tier=analytic"] if type_name == "OrcaMemory" else []
        code, out, err = call(
            ["simulate", work / f"{config}.toml", "--set", assignment, *tier, "--out",
             out_file, "--force", "--json"]
        )  # fmt: skip
        check_outcome(code, out, err, json_out=True)
        if code == 0:
            result_is_finite(out_file)

    check()


# ------------------------------------------------------------ random configs
KEYS = sorted(
    {"rep_rate_mhz", "lifetime_ns", "length_km", "efficiency", "fwhm_ghz", "loss_db",
     "write_time_ns", "storage_time_ns", "beat_terms", "decay", "branch", "name", "type",
     "bin_width_ps", "window_start_ns", "window_stop_ns", "shots", "seed", "mode",
     "chunk_shots", "retrieval_window_ns", "reflectivity", "bogus"}
)  # fmt: skip
SCALARS = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(["QuantumDot", "Detector", "LadderMemory", "gaussian", "x", "", "qd"])
    | st.booleans()
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3), max_leaves=6)


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return toml_number(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    return "[" + ", ".join(toml_value(x) for x in v) + "]"


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["run", "tagger", "analysis", "stage"]),
            st.sampled_from(KEYS),
            VALUES,
        ),
        max_size=5,
    )
)
def test_generated_configs(work, edits):
    base = tomllib.loads(CHAIN)
    for section, key, value in edits:
        if section == "stage":
            base["stage"][len(key) % len(base["stage"])][key] = value
        else:
            base.setdefault(section, {})[key] = value
    lines = []
    for section in ("run", "tagger", "analysis"):
        lines.append(f"[{section}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in base.get(section, {}).items()]
    for table in base["stage"]:
        lines.append("[[stage]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in table.items()]
    (work / "gen.toml").write_text("\n".join(lines) + "\n")
    code, out, err = call(
        ["simulate", work / "gen.toml", "--mode", "expected", "--shots", "100",
         "--out", work / "gen.h5", "--force", "--json"]
    )  # fmt: skip
    check_outcome(code, out, err, json_out=True)


# -------------------------------------------------------- damaged data files
def damage(data: bytes, cut: int, flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(data[: max(0, min(cut, len(data)))])
    for at, byte in flips:
        if out:
            out[at % len(out)] ^= byte or 1
    return bytes(out)


DAMAGE = st.tuples(
    st.integers(min_value=0, max_value=1 << 20),
    st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=4),
)


@pytest.mark.parametrize("name", ["good.ptu", "good.h5"])
def test_damaged_time_tag_files(work, name):
    data = (work / name).read_bytes()

    @SETTINGS
    @given(DAMAGE)
    def check(how):
        cut, flips = how
        bad = work / f"bad{Path(name).suffix}"
        bad.write_bytes(damage(data, cut, flips))
        code, out, err = call(["correlate", bad, "--out", work / "corr.h5", "--force", "--json"])
        check_outcome(code, out, err, json_out=True)

    check()


@pytest.mark.parametrize("name", ["good.npz", "good.csv"])
def test_damaged_histogram_files(work, name):
    data = (work / name).read_bytes()

    @SETTINGS
    @given(DAMAGE)
    def check(how):
        cut, flips = how
        bad = work / f"bad{Path(name).suffix}"
        bad.write_bytes(damage(data, cut, flips))
        try:
            h = load_histogram(bad, shots=100)
        except DatasetError as e:
            assert "\n" not in str(e)
            return
        assert np.all(np.isfinite(h.counts)) and np.all(np.isfinite(h.bin_edges_ns))

    check()


@SETTINGS
@given(DAMAGE)
def test_damaged_result_files(work, how):
    cut, flips = how
    data = (work / "r.h5").read_bytes()
    bad = work / "bad_result.h5"
    bad.write_bytes(damage(data, cut, flips))
    code, out, err = call(["show", bad, "--json"])
    check_outcome(code, out, err, json_out=True)
    if code == 2:
        assert "bad_result.h5" in err
