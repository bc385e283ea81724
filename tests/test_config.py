"""TOML configs: layout, defaults, overrides, the resolved config, and every bad input."""

from __future__ import annotations

import math
import tomllib

import jax
import numpy as np
import pytest

import photonmc as pmc
from photonmc.config import (
    ConfigError,
    RunConfig,
    dump_config,
    load_config,
    parse_literal,
    toml_value,
)
from photonmc.simulation import DEFAULT_CHUNK_SHOTS

BASE = """\
[run]
shots = 20000
seed = 3
mode = "analog"
chunk_shots = 4096

[[stage]]
type = "QuantumDot"
name = "qd"
rep_rate_mhz = 80
lifetime_ns = 0.6
feeding_time_ns = 0.05
mean_photon_number = 0.5

[[stage]]
type = "Fiber"
name = "fiber"
length_km = 1

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

[[stage]]
type = "Detector"
efficiency = 0.8
dark_count_rate_hz = 2e4
jitter_fwhm_ps = 50.0

[tagger]
bin_width_ps = 50.0
window_start_ns = -2.0
window_stop_ns = 8.0
"""


def edit(old: str, new: str, text: str = BASE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def same_link(a: pmc.Link, b: pmc.Link) -> bool:
    leaves_a, tree_a = jax.tree.flatten(a)
    leaves_b, tree_b = jax.tree.flatten(b)
    return tree_a == tree_b and all(
        np.array_equal(np.asarray(x), np.asarray(y))
        for x, y in zip(leaves_a, leaves_b, strict=True)
    )


# ---------------------------------------------------------------- good input
def test_loads_link_and_run():
    cfg = load_config(BASE)
    assert isinstance(cfg, RunConfig)
    assert (cfg.shots, cfg.seed, cfg.mode, cfg.chunk_shots) == (20000, 3, "analog", 4096)
    assert [type(s).__name__ for s in cfg.link.stages] == [
        "QuantumDot",
        "Fiber",
        "LadderMemory",
        "Detector",
    ]
    assert cfg.link["memory"].storage_time_ns == 1.0
    assert cfg.retrieval_window_ns is None
    assert cfg.source is None


def test_ints_become_floats_and_names_default():
    cfg = load_config(BASE)
    length = cfg.link["fiber"].length_km
    assert isinstance(length, float) and length == 1.0
    assert isinstance(cfg.link.source.rep_rate_mhz, float)
    assert cfg.link.detector.name == "detector"  # the class's default name


def test_run_table_is_optional_with_defaults():
    start = BASE.index("[[stage]]")
    cfg = load_config(BASE[start:])
    assert (cfg.shots, cfg.seed, cfg.mode) == (1_000_000, 0, "analog")
    assert cfg.chunk_shots == DEFAULT_CHUNK_SHOTS


def test_reads_a_file(tmp_path):
    path = tmp_path / "link.toml"
    path.write_text(BASE)
    for arg in (path, str(path)):
        cfg = load_config(arg)
        assert cfg.source == str(path)
        assert same_link(cfg.link, load_config(BASE).link)


def test_defaults_are_filled_in_the_resolved_config():
    text = load_config(BASE).toml_text
    parsed = tomllib.loads(text)
    fiber = parsed["stage"][1]
    assert fiber["loss_db_per_km"] == 0.2 and fiber["group_index"] == 1.4682
    assert parsed["stage"][2]["decay"] == "gaussian"
    assert parsed["stage"][2]["beat_terms"] == []
    assert parsed["stage"][3]["name"] == "detector"
    assert parsed["tagger"]["sync_offset_ns"] == 0.0
    assert parsed["run"] == {"shots": 20000, "seed": 3, "mode": "analog", "chunk_shots": 4096}
    assert "dephasing_time_ns: not set" in text  # None has no TOML value


def test_resolved_config_round_trips():
    text = edit(
        "lifetime_ns = 1.1\n",
        'lifetime_ns = 1.1\nbeat_terms = [[0.1, 0.3, 0.5]]\ndecay = "exponential"\n',
    )
    text = edit("[tagger]", "[analysis]\nretrieval_window_ns = [1, 3.5]\n\n[tagger]", text)
    first = load_config(text, ["qd.dephasing_time_ns=0.3"])
    second = load_config(first.toml_text)
    assert same_link(first.link, second.link)
    for field in ("shots", "seed", "mode", "chunk_shots", "retrieval_window_ns"):
        assert getattr(first, field) == getattr(second, field)
    assert second.toml_text == first.toml_text
    assert second.retrieval_window_ns == (1.0, 3.5)


def test_overrides():
    cfg = load_config(
        BASE,
        [
            "memory.storage_time_ns=2.5",
            "memory.decay=exponential",  # a bare word is a string
            "fiber.loss_db_per_km=0.25",  # not in the file: added
            "memory.beat_terms=[[0.1, 0.3, 0.0]]",
            "tagger.sync_offset_ns=0.1",
            "run.shots=1000",
            'run.mode="expected"',
            "analysis.retrieval_window_ns=[1.0, 3.0]",
        ],
    )
    memory = cfg.link["memory"]
    assert memory.storage_time_ns == 2.5 and memory.decay == "exponential"
    assert np.array_equal(memory.beat_terms, [[0.1, 0.3, 0.0]])
    assert cfg.link["fiber"].loss_db_per_km == 0.25
    assert cfg.link.tagger.sync_offset_ns == 0.1
    assert (cfg.shots, cfg.mode, cfg.retrieval_window_ns) == (1000, "expected", (1.0, 3.0))
    assert "storage_time_ns = 2.5" in cfg.toml_text
    assert 'decay = "exponential"' in cfg.toml_text
    assert 'decay = "exponential"' in load_config(BASE, ['memory.decay="exponential"']).toml_text


def test_later_override_wins():
    cfg = load_config(BASE, ["run.seed=1", "run.seed=2"])
    assert cfg.seed == 2


def test_parse_literal():
    assert parse_literal("2.5") == 2.5
    assert parse_literal("3") == 3
    assert parse_literal('"a b"') == "a b"
    assert parse_literal("exponential") == "exponential"
    assert parse_literal("[[1, 2, 3]]") == [[1, 2, 3]]
    assert parse_literal("true") is True


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        'quote " and \\ back',
        "line\nbreak\ttab",
        "\x01\x7f",
        "ünïcode",
        0,
        -7,
        2.5,
        1e-300,
        1e300,
        math.inf,
        -math.inf,
        True,
        False,
        [1.0, 2.0],
        [[0.1, 0.3, 0.0], [1, 2, 3]],
        [],
    ],
)
def test_toml_value_round_trips(value):
    parsed = tomllib.loads(f"v = {toml_value(value)}")["v"]
    assert parsed == value and type(parsed) is type(value)


def test_toml_value_of_arrays():
    assert tomllib.loads(f"v = {toml_value(np.zeros((0, 3)))}")["v"] == []
    assert tomllib.loads(f"v = {toml_value(np.float64(0.1))}")["v"] == 0.1
    assert math.isnan(tomllib.loads(f"v = {toml_value(math.nan)}")["v"])


def test_dump_config_of_a_python_link():
    cfg = load_config(BASE)
    text = dump_config(cfg.link, shots=5, seed=1, mode="expected")
    again = load_config(text)
    assert same_link(again.link, cfg.link)
    assert (again.shots, again.seed, again.mode) == (5, 1, "expected")


# ----------------------------------------------------------------- bad input
BAD = [
    pytest.param(
        edit("length_km = 1", "length_km = = 1"),
        ["malformed TOML", "line", "column"],
        id="malformed",
    ),
    pytest.param(
        edit('type = "Fiber"', 'type = "Fibre"'),
        ["stage #2", "unknown stage type 'Fibre'", "did you mean 'Fiber'?"],
        id="type",
    ),
    pytest.param(
        edit("length_km = 1", "lenght_km = 1"),
        ["stage 'fiber' (Fiber)", "unknown key 'lenght_km'", "did you mean 'length_km'?"],
        id="stage-key",
    ),
    pytest.param(
        edit("length_km = 1", "length_km = 1\nfoo = 2"),
        ["stage 'fiber' (Fiber)", "unknown key 'foo'", "valid keys: length_km"],
        id="stage-key-no-suggestion",
    ),
    pytest.param(
        edit("bin_width_ps", "bin_width"),
        ["[tagger]", "unknown key 'bin_width'", "did you mean 'bin_width_ps'?"],
        id="tagger-key",
    ),
    pytest.param(
        edit("shots = 20000", "shot = 20000"),
        ["[run]", "unknown key 'shot'", "did you mean 'shots'?"],
        id="run-key",
    ),
    pytest.param(
        edit("[tagger]", "[analysis]\nretrieval_window = [1, 2]\n[tagger]"),
        ["[analysis]", "did you mean 'retrieval_window_ns'?"],
        id="analysis-key",
    ),
    pytest.param(edit("[run]", "[runn]"), ["top level", "did you mean 'run'?"], id="table"),
    pytest.param(
        edit("length_km = 1", ""),
        ["stage 'fiber' (Fiber): missing required parameter length_km (km)"],
        id="missing-param",
    ),
    pytest.param(
        edit("length_km = 1", 'length_km = "ten"'),
        ["stage 'fiber' (Fiber): length_km must be a number (km), got 'ten'"],
        id="string-for-number",
    ),
    pytest.param(
        edit("length_km = 1", "length_km = true"),
        ["length_km must be a number (km)"],
        id="bool-for-number",
    ),
    pytest.param(
        edit("lifetime_ns = 1.1", "lifetime_ns = 1.1\ndecay = 1"),
        ["stage 'memory' (LadderMemory): decay must be a string, got 1"],
        id="int-for-str",
    ),
    pytest.param(
        edit("lifetime_ns = 1.1", 'lifetime_ns = 1.1\ndecay = "linear"'),
        ["decay must be one of 'gaussian', 'exponential'"],
        id="bad-choice",
    ),
    pytest.param(
        edit("lifetime_ns = 1.1", "lifetime_ns = 1.1\nbeat_terms = [1, 2]"),
        ["beat_terms must be a list of [a, f_ghz, phi] number triples"],
        id="beat-terms",
    ),
    pytest.param(
        edit("length_km = 1", "length_km = -3"),
        ["Fiber 'fiber': length_km must be >= 0 km, got -3"],
        id="range",
    ),
    pytest.param(
        edit("efficiency = 0.8", "efficiency = 1.5"),
        ["Detector 'detector': efficiency must be in [0, 1], got 1.5"],
        id="range-01",
    ),
    pytest.param(
        edit("window_stop_ns = 8.0", "window_stop_ns = -3.0"),
        ["window_stop_ns must be > window_start_ns"],
        id="inverted-window",
    ),
    pytest.param(BASE[: BASE.index("[tagger]")], ["missing [tagger] table"], id="no-tagger"),
    pytest.param(
        BASE[: BASE.index('[[stage]]\ntype = "Fiber')].replace("[[stage]]", "[stage]"),
        ["write [[stage]], not [stage]"],
        id="single-bracket",
    ),
    pytest.param(edit('type = "Fiber"\n', ""), ["stage #2: missing 'type'"], id="no-type"),
    pytest.param(BASE[: BASE.index("[[stage]]")], ["no [[stage]] tables"], id="no-stages"),
    pytest.param(
        edit("shots = 20000", "shots = 1.5"),
        ["[run]: shots must be a whole number >= 1, got 1.5"],
        id="shots",
    ),
    pytest.param(
        edit('mode = "analog"', 'mode = "fast"'),
        ["[run]: mode must be 'analog' or 'expected', got 'fast'"],
        id="mode",
    ),
    pytest.param(
        edit("chunk_shots = 4096", "chunk_shots = 0"), ["chunk_shots must be a whole"], id="chunk"
    ),
    pytest.param(
        edit('name = "fiber"', 'name = "qd"'), ["two stages are named 'qd'"], id="duplicate-name"
    ),
    pytest.param(
        edit('name = "fiber"', 'name = "run"'), ["the name 'run' is reserved"], id="reserved-name"
    ),
    pytest.param(
        edit("[tagger]", "[analysis]\nretrieval_window_ns = [3, 1]\n[tagger]"),
        ["retrieval_window_ns must be finite with a < b"],
        id="window",
    ),
]


@pytest.mark.parametrize("text, fragments", BAD)
def test_bad_config(tmp_path, text, fragments):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in message


def test_link_structure_errors():
    text = BASE.replace('type = "Detector"', 'type = "Attenuator"\nloss_db = 1.0').replace(
        "efficiency = 0.8\ndark_count_rate_hz = 2e4\njitter_fwhm_ps = 50.0\n", ""
    )
    with pytest.raises(ConfigError, match="<config>: Link: the last stage must be a Detector"):
        load_config(text)


@pytest.mark.parametrize(
    "item, fragments",
    [
        ("memry.storage_time_ns=2", ["no stage named 'memry'", "did you mean 'memory'?"]),
        (
            "memory.storage_time=2",
            ["stage 'memory' (LadderMemory)", "did you mean 'storage_time_ns'?"],
        ),
        ("memory.storage_time_ns", ["expected TARGET.KEY=VALUE"]),
        ("storage_time_ns=2", ["expected TARGET.KEY=VALUE"]),
        ("tagger.bin_width=2", ["[tagger]", "did you mean 'bin_width_ps'?"]),
        ("run.shot=2", ["[run]", "did you mean 'shots'?"]),
        ("memory.storage_time_ns=ten", ["storage_time_ns must be a number (ns), got 'ten'"]),
        ("fiber.length_km=-1", ["length_km must be >= 0 km"]),
        ("run.shots=0", ["shots must be a whole number >= 1"]),
    ],
)
def test_bad_override(item, fragments):
    with pytest.raises(ConfigError) as info:
        load_config(BASE, [item])
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.toml: no such config file"):
        load_config(tmp_path / "nope.toml")
