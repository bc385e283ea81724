"""TOML configs: a file describing a link and a run, read into a `RunConfig`.

The only module of photonmc that reads TOML. Layout (every table but [[stage]] and
[tagger] is optional)::

    [run]                        # shots = 1000000, seed = 0, mode = "analog",
    shots = 1000000              # chunk_shots = photonmc.simulation.default_chunk_shots()
    seed = 1
    mode = "analog"              # or "expected"
    [[stage]]                    # one table per stage, source first, detector last
    type = "QuantumDot"          # a key of photonmc.stages.STAGE_TYPES
    name = "qd"                  # default: the class's default name
    rep_rate_mhz = 80.0          # parameters named exactly as the stage's fields
    lifetime_ns = 0.6
    [[stage]]
    type = "LadderMemory"
    beat_terms = [[0.1, 0.3, 0.0]]   # [a_k, f_k_ghz, phi_k] triples
    # ...
    [tagger]                     # photonmc.TimeTagger fields
    bin_width_ps = 10.0
    window_start_ns = -2.0
    window_stop_ns = 10.0
    [analysis]
    retrieval_window_ns = [1.0, 3.0] # histogram time; default t_w + tau +- output FWHM

Overrides `TARGET.KEY=VALUE`, TARGET a stage name, `tagger`, `run` or `analysis`, replace
or add one value; VALUE is a TOML literal (`2.5`, `"exponential"`, `[1.0, 2.0]`), and a
bare word that is no TOML literal is taken as a string (`memory.decay=exponential`).

Every mistake raises `ConfigError` with one line that names the file and the stage or key.
Parameters without a value in the file take the stage's documented defaults; the resolved
config (`RunConfig.toml_text`) writes every value out, and loading it gives the same link.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import tomllib
from collections.abc import Sequence
from typing import Any

from photonmc._version import __version__
from photonmc.link import Link
from photonmc.parameters import unit_of
from photonmc.result import Result
from photonmc.simulation import (
    DEFAULT_CHUNK_SHOTS,
    MAX_SEED,
    MAX_SHOTS,
    default_chunk_shots,
    simulate,
)
from photonmc.stages import STAGE_TYPES, TimeTagger

#: Values of [run] when the file does not give them
RUN_DEFAULTS = {"shots": 1_000_000, "seed": 0, "mode": "analog", "chunk_shots": DEFAULT_CHUNK_SHOTS}
MODES = ("analog", "expected")
#: Largest chunk that `simulate` accepts
MAX_CHUNK_SHOTS = 1 << 24
#: Tagger fields a config may set (its name is always "tagger")
TAGGER_KEYS = tuple(f.name for f in dataclasses.fields(TimeTagger) if f.name != "name")
#: Section names that a stage may not take, so that overrides stay unambiguous
RESERVED_NAMES = ("run", "tagger", "analysis")


#: Units read from a field's name when its metadata does not record one
class ConfigError(ValueError):
    """A config that cannot be run; the message is one line naming the file and the key."""


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """A resolved config: the link and how to run it.

    shots: shots to simulate. seed: integer seed (>= 0). mode: "analog" or "expected".
    chunk_shots: shots per compiled chunk (analog results depend on it). retrieval_window_ns:
    (a, b) in histogram time, or None for the default of `simulate`. toml_text: the
    resolved config as TOML (every stage, every parameter, overrides applied). source: the
    file it was read from, or None for text.
    """

    link: Link
    shots: int
    seed: int
    mode: str
    chunk_shots: int = DEFAULT_CHUNK_SHOTS
    retrieval_window_ns: tuple[float, float] | None = None
    toml_text: str = ""
    source: str | None = None

    def simulate(self, progress=None, **options) -> Result:
        """Run this config with `photonmc.simulate`; the result records `toml_text`.

        options: further keywords of `photonmc.simulate` (on_records, checkpoint).
        """
        return simulate(
            self.link,
            self.shots,
            self.seed,
            self.mode,
            chunk_shots=self.chunk_shots,
            retrieval_window_ns=self.retrieval_window_ns,
            progress=progress,
            config_toml=self.toml_text,
            **options,
        )


# ------------------------------------------------------------------- loading
def load_config(path_or_text: str | os.PathLike, overrides: Sequence[str] = ()) -> RunConfig:
    """Read a config file (a path) or config text (a str holding a newline).

    overrides: `TARGET.KEY=VALUE` strings, applied in order after the file is read.
    Raises ConfigError (a ValueError) with one line for every mistake, including a
    missing file and the range errors of the stage constructors.
    """
    if isinstance(path_or_text, str) and "\n" in path_or_text:
        source, label, text = None, "<config>", path_or_text
    else:
        source = os.fspath(path_or_text)
        label = source
        text = read_text(source, "config file")
    try:
        return _Loader(label, source).load(text, overrides)
    except ConfigError:
        raise
    except ValueError as e:  # a stage constructor's range check, or Link's structure check
        raise ConfigError(_one_line(f"{label}: {e}")) from None


def read_text(path: str | os.PathLike, what: str) -> str:
    """The UTF-8 text of a file that photonmc reads as TOML (`what`: "config file", "fit
    spec"); ConfigError with one line if it is missing, a directory or unreadable."""
    label = os.fspath(path)
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{label}: no such {what}") from None
    except IsADirectoryError:
        raise ConfigError(f"{label}: is a directory, not a {what}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{label}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise ConfigError(f"{label}: cannot read: {e.strerror}") from None


def parse_toml(text: str, label: str) -> dict:
    """TOML text as a dict; ConfigError "<label>: malformed TOML: ..." (one line)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(_one_line(f"{label}: malformed TOML: {e}")) from None


def read_toml(path: str | os.PathLike, what: str) -> tuple[str, dict]:
    """(text, table) of a TOML file; see `read_text` and `parse_toml`."""
    text = read_text(path, what)
    return text, parse_toml(text, os.fspath(path))


class _Loader:
    def __init__(self, label: str, source: str | None):
        self.label, self.source = label, source

    def error(self, message: str) -> ConfigError:
        return ConfigError(_one_line(f"{self.label}: {message}"))

    def load(self, text: str, overrides: Sequence[str]) -> RunConfig:
        raw = parse_toml(text, self.label)
        self.check_keys("top level", raw, ("run", "stage", "tagger", "analysis"))
        for section in ("run", "tagger", "analysis"):
            if section in raw and not isinstance(raw[section], dict):
                raise self.error(f"'{section}' must be a table, [{section}]")
        stages = raw.get("stage", [])
        if isinstance(stages, dict):
            raise self.error("stages are an array of tables: write [[stage]], not [stage]")
        if not isinstance(stages, list) or not all(isinstance(s, dict) for s in stages):
            raise self.error("'stage' must be an array of tables, [[stage]]")
        if not stages:
            raise self.error("no [[stage]] tables; a link needs a QuantumDot and a Detector")
        if "tagger" not in raw:
            raise self.error(f"missing [tagger] table (with {', '.join(TAGGER_KEYS[:3])})")

        stages = [self.stage_header(i, s) for i, s in enumerate(stages)]
        tables = {
            "run": dict(raw.get("run", {})),
            "tagger": dict(raw["tagger"]),
            "analysis": dict(raw.get("analysis", {})),
        }
        for item in overrides:
            self.apply_override(item, stages, tables)

        built = [self.build_stage(cls, name, params) for cls, name, params in stages]
        tagger = self.build_tagger(tables["tagger"])
        link = Link(built, tagger)
        run = self.run_table(tables["run"])
        window = self.analysis_table(tables["analysis"])
        toml_text = dump_config(link, **run, retrieval_window_ns=window, source=self.source)
        return RunConfig(
            link=link, retrieval_window_ns=window, toml_text=toml_text, source=self.source, **run
        )

    # ---------------------------------------------------------------- stages
    def stage_header(self, index: int, table: dict) -> tuple[type, str, dict]:
        """(class, name, parameters) of the index-th [[stage]] table, checked for keys."""
        where = f"stage #{index + 1}"
        if "type" not in table:
            raise self.error(f"{where}: missing 'type' (one of {', '.join(STAGE_TYPES)})")
        type_name = table["type"]
        if not isinstance(type_name, str):
            raise self.error(f"{where}: type must be a string, got {type_name!r}")
        if type_name not in STAGE_TYPES:
            hint = suggest(type_name, STAGE_TYPES) or f"types: {', '.join(STAGE_TYPES)}"
            raise self.error(f"{where}: unknown stage type {type_name!r}; {hint}")
        cls = STAGE_TYPES[type_name]
        name = table.get("name", _field(cls, "name").default)
        if not (isinstance(name, str) and name.strip()):
            raise self.error(
                f"{where} ({type_name}): name must be a non-empty string, got {name!r}"
            )
        if name in RESERVED_NAMES:
            raise self.error(
                f"{where} ({type_name}): the name {name!r} is reserved for the [{name}] table; "
                "choose another"
            )
        params = {k: v for k, v in table.items() if k not in ("type", "name")}
        self.check_keys(_where(cls, name), params, _param_names(cls))
        return cls, name, params

    def build_stage(self, cls: type, name: str, params: dict):
        where = _where(cls, name)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "name"}
        missing = [
            f"{n} ({unit_of(f)})" if unit_of(f) else n
            for n, f in fields.items()
            if n not in params and _required(f)
        ]
        if missing:
            plural = "s" if len(missing) > 1 else ""
            raise self.error(f"{where}: missing required parameter{plural} {', '.join(missing)}")
        values = {k: self.convert(where, fields[k], v) for k, v in params.items()}
        return cls(**values, name=name)

    def build_tagger(self, table: dict) -> TimeTagger:
        self.check_keys("[tagger]", table, TAGGER_KEYS)
        fields = {f.name: f for f in dataclasses.fields(TimeTagger)}
        missing = [k for k in TAGGER_KEYS if k not in table and _required(fields[k])]
        if missing:
            raise self.error(f"[tagger]: missing {', '.join(missing)}")
        return TimeTagger(**{k: self.convert("[tagger]", fields[k], v) for k, v in table.items()})

    def convert(self, where: str, field: dataclasses.Field, value: Any):
        """A TOML value as the field wants it: ints to float, triples as lists of floats."""
        kind = _kind(field)
        unit = unit_of(field)
        if kind == "str":
            if not isinstance(value, str):
                raise self.error(f"{where}: {field.name} must be a string, got {value!r}")
            return value
        if kind == "triples":
            ok = isinstance(value, list) and all(
                isinstance(t, list) and len(t) == 3 and all(_is_number(x) for x in t) for t in value
            )
            if not ok:
                raise self.error(
                    f"{where}: {field.name} must be a list of [a, f_ghz, phi] number triples, "
                    f"e.g. [[0.1, 0.3, 0.0]], got {value!r}"
                )
            return [[self.to_float(where, field, x) for x in t] for t in value]
        if kind == "numbers":
            if not (isinstance(value, list) and all(_is_number(x) for x in value)):
                raise self.error(
                    f"{where}: {field.name} must be a list of numbers, e.g. [0.5, 1.0, 0.5], "
                    f"got {_short(value)}"
                )
            return [self.to_float(where, field, x) for x in value]
        if not _is_number(value):
            u = f" ({unit})" if unit else ""
            raise self.error(f"{where}: {field.name} must be a number{u}, got {_short(value)}")
        return self.to_float(where, field, value)

    def to_float(self, where: str, field: dataclasses.Field, value: int | float) -> float:
        try:
            return float(value)
        except OverflowError:  # an integer beyond float64
            raise self.error(
                f"{where}: {field.name} must be a number below 1.8e308 (float64), got "
                f"{_short(value)}"
            ) from None

    def check_keys(self, where: str, table: dict, valid: Sequence[str]) -> None:
        for key in table:
            if key not in valid:
                hint = suggest(key, valid) or f"valid keys: {', '.join(valid)}"
                raise self.error(f"{where}: unknown key {key!r}; {hint}")

    # -------------------------------------------------------- run, analysis
    def run_table(self, table: dict) -> dict:
        self.check_keys("[run]", table, tuple(RUN_DEFAULTS))
        run = {**RUN_DEFAULTS, "chunk_shots": default_chunk_shots(), **table}
        for key, lo, hi in (
            ("shots", 1, MAX_SHOTS),
            ("seed", 0, MAX_SEED),
            ("chunk_shots", 1, MAX_CHUNK_SHOTS),
        ):
            run[key] = self.whole_number(f"[run]: {key}", run[key], lo, hi)
        if run["mode"] not in MODES:
            raise self.error(f"[run]: mode must be 'analog' or 'expected', got {run['mode']!r}")
        return run

    def whole_number(self, where: str, value: Any, lo: int, hi: int | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            n = value  # exact, however large (no float conversion)
        elif _is_number(value) and math.isfinite(value) and float(value).is_integer():
            n = int(value)
        else:
            n = None
        if n is not None and n >= lo and (hi is None or n <= hi):
            return n
        if hi is None:
            rng = f">= {lo}"
        elif hi >= 1 << 53:  # the bounds of the number types, not of the physics
            rng = f">= {lo}" if n is None or n < lo else f"at most {_power_text(hi)}"
        else:
            rng = f"in [{lo}, {hi}]"
        raise self.error(f"{where} must be a whole number {rng}, got {_short(value)}")

    def analysis_table(self, table: dict) -> tuple[float, float] | None:
        self.check_keys("[analysis]", table, ("retrieval_window_ns",))
        if "retrieval_window_ns" not in table:
            return None
        w = table["retrieval_window_ns"]
        if not (isinstance(w, list) and len(w) == 2 and all(_is_number(x) for x in w)):
            raise self.error(f"[analysis]: retrieval_window_ns must be [a, b] in ns, got {w!r}")
        a, b = float(w[0]), float(w[1])
        if not (math.isfinite(a) and math.isfinite(b) and a < b):
            raise self.error(
                f"[analysis]: retrieval_window_ns must be finite with a < b (ns), got {w!r}"
            )
        return a, b

    # -------------------------------------------------------------- overrides
    def apply_override(self, item: str, stages: list, tables: dict) -> None:
        where = f"--set {item}"
        key, eq, literal = item.partition("=")
        target, dot, param = key.strip().partition(".")
        if not eq or not dot or not target or not param:
            raise self.error(f"{where}: expected TARGET.KEY=VALUE, e.g. memory.storage_time_ns=2.5")
        value = parse_literal(literal.strip())
        if target in tables:
            valid = {
                "run": tuple(RUN_DEFAULTS),
                "tagger": TAGGER_KEYS,
                "analysis": ("retrieval_window_ns",),
            }[target]
            self.check_keys(f"{where}: [{target}]", {param: None}, valid)
            tables[target][param] = value
            return
        names = [name for _, name, _ in stages]
        if target not in names:
            hint = suggest(target, names) or (
                f"stages: {', '.join(names)}; tables: {', '.join(tables)}"
            )
            raise self.error(f"{where}: no stage named {target!r}; {hint}")
        cls, name, params = stages[names.index(target)]
        self.check_keys(f"{where}: {_where(cls, name)}", {param: None}, _param_names(cls))
        params[param] = value


def parse_literal(text: str) -> Any:
    """A TOML literal (`2.5`, `"a"`, `[1, 2]`, `true`); anything else as a plain string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


# ------------------------------------------------------------------- dumping
def dump_config(
    link: Link,
    *,
    shots: int,
    seed: int,
    mode: str,
    chunk_shots: int = DEFAULT_CHUNK_SHOTS,
    retrieval_window_ns: tuple[float, float] | None = None,
    source: str | None = None,
) -> str:
    """The TOML text of a run: every stage with every parameter, defaults written out.

    Loading the text gives the same link. A parameter that is None (unset, like
    `dephasing_time_ns`) has no TOML value and is written as a comment.
    """
    head = f"# photonmc {__version__} resolved config"
    lines = [head + (f" of {source}" if source else ""), "", "[run]"]
    run = {"shots": shots, "seed": seed, "mode": mode, "chunk_shots": chunk_shots}
    lines += [f"{k} = {toml_value(v)}" for k, v in run.items()]
    for s in link.stages:
        lines += [
            "",
            "[[stage]]",
            f"type = {toml_value(type(s).__name__)}",
            f"name = {toml_value(s.name)}",
        ]
        lines += _field_lines(s, [f for f in dataclasses.fields(s) if f.name != "name"])
    lines += ["", "[tagger]"]
    lines += _field_lines(
        link.tagger, [f for f in dataclasses.fields(TimeTagger) if f.name in TAGGER_KEYS]
    )
    lines += ["", "[analysis]"]
    if retrieval_window_ns is None:
        lines.append("# retrieval_window_ns: default, t_w + tau +- output_mode_fwhm_ns")
    else:
        lines.append(f"retrieval_window_ns = {toml_value(list(retrieval_window_ns))}")
    return "\n".join(lines) + "\n"


def _field_lines(obj, fields) -> list[str]:
    lines = []
    for f in fields:
        value = getattr(obj, f.name)
        doc = f.metadata.get("doc", "")
        if value is None:
            lines.append(f"# {f.name}: not set" + (f"; {doc}" if doc else ""))
            continue
        lines.append(f"{f.name} = {toml_value(value)}" + (f"  # {doc}" if doc else ""))
    return lines


def toml_value(value: Any) -> str:
    """A TOML literal of a str, bool, int, float, or a (nested) list or array of them."""
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()  # numpy and JAX arrays and scalars
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # shortest round-trip form; inf and nan are TOML too
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__} {value!r}")


def _toml_string(s: str) -> str:
    escapes = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
    out = []
    for ch in s:
        if ch in escapes:
            out.append(escapes[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


# ------------------------------------------------------------------- helpers
def _field(cls, name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(cls) if f.name == name)


def _param_names(cls) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.name != "name")


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _kind(f: dataclasses.Field) -> str:
    """How a config gives the field: "str", "triples" (beat terms), "numbers" or "number"."""
    annotation = str(f.type)
    if "entry" in f.metadata.get("components", {}):
        return "numbers"  # a 1-D array parameter (a table control's amplitudes)
    if "ndarray" in annotation:
        return "triples"
    if annotation.startswith("str"):
        return "str"
    return "number"


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _where(cls, name: str) -> str:
    return f"stage {name!r} ({cls.__name__})"


def suggest(word: str, choices) -> str:
    """ "did you mean 'x'?" for the closest choice, or "" when none is close."""
    choices = list(choices)
    lower = {c.lower(): c for c in choices}
    match = difflib.get_close_matches(word.lower(), list(lower), n=1, cutoff=0.6)
    return f"did you mean {lower[match[0]]!r}?" if match else ""


def _power_text(n: int) -> str:
    """n as written in messages: 2^53 = 9007199254740992 for the powers-of-two bounds."""
    for k, off in ((k, off) for k in range(20, 65) for off in (0, 1)):
        if n == (1 << k) - off and n > 1 << 20:
            return f"2^{k}{' - 1' if off else ''} = {n}"
    return str(n)


def _short(value: Any) -> str:
    """repr of a value, a number of more than 40 digits shortened to its size."""
    text = repr(value)
    if isinstance(value, int) and len(text) > 40:
        return f"a {len(text.lstrip('-'))}-digit number ({text[:12]}...)"
    return text


def _one_line(message: str) -> str:
    return " ".join(message.split("\n"))
