"""The `photonmc` command: simulate a config, show a result, plot a result.

    photonmc simulate CONFIG.toml [--shots N] [--seed S] [--mode analog|expected]
                      [--set STAGE.PARAM=VALUE ...] [--out RESULT.h5] [--force] [--json]
                      [--chunk-shots N]
    photonmc show RESULT.h5 [--json]
    photonmc plot FILE.h5 [-o FIG.png] [--force]
    photonmc fit FITSPEC.toml [--json] [--out FIT.h5] [--plot FIG.png] [--start NAME=VALUE ...]
    photonmc optimize CONFIG.toml --objective NAME --free P[,P...] [--bounds P=lo:hi ...]
                      [--json]
    photonmc memory CONFIG.toml [--stage NAME] [--input source|gaussian:FWHM_NS]
                    [--set STAGE.PARAM=VALUE ...] [--json] [--plot FIG.png] [--force]

simulate, sweep, fit and optimize keep compiled kernels on disk for the next run
(`photonmc.compile_cache`): --cache-dir DIR moves the cache, --no-cache disables it.
They make one JAX device per CPU core (`photonmc.distributed.use_cpu_cores`), so that
an analog run on CPUs works on a chunk per core; --cpu-devices N chooses the number.

The only module of photonmc that parses arguments. Every user error (a bad config, an
existing output, a missing or foreign file) prints one line `photonmc: error: ...` on
stderr and exits with status 2. With --json, stdout is exactly one JSON object:
`Result.summary()` plus `output`, the result file (simulate, show);
`FitResult.as_dict()` (fit); `OptimizeResult.as_dict()` (optimize).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np

from photonmc import compile_cache, correlate, distributed, plot
from photonmc._version import __version__
from photonmc.batch import ORIGINS
from photonmc.config import ConfigError, load_config, parse_literal
from photonmc.io import ResultFileError, read_result, write_result
from photonmc.io.atomic import atomic_path, check_writable
from photonmc.io.checkpoint import CheckpointError, read_checkpoint_progress
from photonmc.io.sweep_hdf5 import write_sweep
from photonmc.io.timetag_files import simulation_writer
from photonmc.observables import snr_lower_bound
from photonmc.result import Result
from photonmc.simulation import Checkpointing
from photonmc.sweep import grid_values, sweep

#: Exit status of every user error
USER_ERROR = 2
_NEEDS_MATPLOTLIB = "needs matplotlib: pip install 'photonmc[plot]'"
#: What `photonmc plot` prints without matplotlib (one error line)
PLOT_HINT = f"photonmc: error: photonmc plot {_NEEDS_MATPLOTLIB}"


class UsageError(Exception):
    """Bad command-line arguments (argparse's message, on one line)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="photonmc",
        description="Monte Carlo of single photons through a quantum network link.",
    )
    parser.add_argument("--version", action="version", version=f"photonmc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sim = sub.add_parser(
        "simulate",
        help="run a config and write an HDF5 result",
        description="Run a TOML config and write an HDF5 result.",
    )
    sim.add_argument("config", metavar="CONFIG.toml", help="TOML config of the link and run")
    sim.add_argument(
        "--shots", type=int, metavar="N", help="shots to simulate (overrides [run] shots)"
    )
    sim.add_argument("--seed", type=int, metavar="S", help="integer seed (overrides [run] seed)")
    sim.add_argument("--mode", choices=("analog", "expected"), help="estimator (overrides [run])")
    sim.add_argument(
        "--chunk-shots",
        type=int,
        metavar="N",
        help="shots per compiled chunk (analog results depend on it)",
    )
    _set_flag(
        sim, "override a config value (TOML literal); also tagger.X, run.X, analysis.X; repeatable"
    )
    sim.add_argument(
        "--out",
        metavar="RESULT.h5",
        help="result file (default: <config stem>.h5 in the working directory)",
    )
    sim.add_argument("--force", action="store_true", help="overwrite an existing result file")
    sim.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    sim.add_argument(
        "--timetags",
        metavar="FILE.ptu|FILE.h5",
        help="also stream the click records as time tags (PicoQuant PTU T3 or Photon-HDF5)",
    )
    sim.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted analog run from its partial file <out>.partial",
    )
    sim.add_argument(
        "--checkpoint-every",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="seconds between checkpoints of an analog run to <out>.partial (default 300)",
    )
    sim.add_argument(
        "--no-correlations",
        action="store_true",
        help="links with several detectors: skip the coincidence histograms, g2(0) and HOM "
        "figures (an analog run then checkpoints and can be resumed)",
    )
    _distributed_flags(sim)
    _cache_flags(sim)
    _device_flags(sim)

    swp = sub.add_parser(
        "sweep",
        help="run a config over a grid of parameter values",
        description="Run a config at every point of the outer product of the --param ranges.",
    )
    swp.add_argument("config", metavar="CONFIG.toml")
    swp.add_argument(
        "--param",
        action="append",
        required=True,
        metavar="STAGE.PARAM=start:stop:num",
        help="num values from start to stop, both included; several form the outer product",
    )
    swp.add_argument("--shots", type=int, metavar="N", help="shots per point")
    swp.add_argument("--seed", type=int, metavar="S")
    swp.add_argument("--mode", choices=("analog", "expected"))
    swp.add_argument("--chunk-shots", type=int, metavar="N")
    _set_flag(swp, "override a config value; repeatable")
    swp.add_argument(
        "--out",
        metavar="FILE.h5",
        help="sweep file (default: <config stem>_sweep.h5 in the working directory)",
    )
    swp.add_argument("--force", action="store_true", help="overwrite an existing sweep file")
    swp.add_argument("--plot", metavar="FIG.png", help="draw the summary figures over the grid")
    swp.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    _cache_flags(swp)
    _device_flags(swp)

    add_correlate_parser(sub)

    show = sub.add_parser(
        "show",
        help="print the summary of a result file",
        description="Print the summary of an HDF5 result.",
    )
    show.add_argument("result", metavar="RESULT.h5")
    show.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    plot = sub.add_parser(
        "plot",
        help="draw a result, sweep, correlation or fit file",
        description="Draw any file photonmc writes: a result (each detector's histogram "
        "by origin and in total, log scale, and the coincidence histograms), a sweep (the "
        "figures over the grid), a correlation (g2 histogram, peaks, g2(0)) or a fit "
        "(data, model, residuals).",
    )
    plot.add_argument("result", metavar="FILE.h5")
    plot.add_argument(
        "-o",
        "--out",
        metavar="FIG.png",
        help="figure file (default: <result stem>.png in the working directory)",
    )
    plot.add_argument("--force", action="store_true", help="overwrite an existing figure")

    fit = sub.add_parser(
        "fit",
        help="fit link parameters to measured histograms and efficiency curves",
        description="Fit the free parameters of a link to the datasets of a fit spec "
        "(expected mode, Poisson deviance / chi-square, optax L-BFGS).",
    )
    fit.add_argument("spec", metavar="FITSPEC.toml", help="fit spec: config, free, [[dataset]]")
    fit.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    fit.add_argument("--out", metavar="FIT.h5", help="write the result, data and model (HDF5)")
    fit.add_argument("--plot", metavar="FIG.png", help="draw data, model and residuals")
    fit.add_argument("--force", action="store_true", help="overwrite existing output files")
    fit.add_argument(
        "--start",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="starting value of a free parameter (default: the config's); repeatable",
    )
    _cache_flags(fit)
    _device_flags(fit)

    opt = sub.add_parser(
        "optimize",
        help="maximise an objective over link parameters",
        description="Maximise retrieved_efficiency, internal_efficiency, snr, "
        "fidelity_proxy or memory_efficiency (a physical memory's total efficiency) over the "
        "free parameters (expected mode, optax L-BFGS).",
    )
    opt.add_argument("config", metavar="CONFIG.toml", help="TOML config of the link")
    opt.add_argument(
        "--objective",
        required=True,
        metavar="NAME",
        help="retrieved_efficiency, internal_efficiency, snr, fidelity_proxy or memory_efficiency",
    )
    opt.add_argument(
        "--input",
        default="source",
        metavar="source|gaussian:FWHM_NS[@T_NS]",
        help="memory_efficiency: the physical memory's input (default: the source's photon)",
    )
    opt.add_argument(
        "--free", required=True, metavar="P[,P...]", help="parameters to vary, comma-separated"
    )
    opt.add_argument(
        "--bounds",
        action="append",
        default=[],
        metavar="P=lo:hi",
        help="interval of a free parameter (default: its valid range); repeatable",
    )
    opt.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    _cache_flags(opt)
    _device_flags(opt)
    add_memory_parser(sub)
    return parser


def add_memory_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "memory",
        help="print the physics of a config's OrcaMemory",
        description="Optical depth, critical control energy, write/read/total efficiency, "
        "singular values, 1/e storage time, light shift and validity warnings of an "
        "OrcaMemory for the source's photon or a Gaussian pulse.",
    )
    p.add_argument("config", metavar="CONFIG.toml", help="TOML config of the link")
    p.add_argument("--stage", metavar="NAME", help="the OrcaMemory (default: the only one)")
    p.add_argument(
        "--input",
        default="source",
        metavar="source|gaussian:FWHM_NS",
        help="the source's photon (default) or a Gaussian of that intensity FWHM on the write "
        "control",
    )
    _set_flag(p, "override a config value (TOML literal); repeatable")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--plot", metavar="FIG.png", help="draw the modes, transmission, spin wave")
    p.add_argument("--force", action="store_true", help="overwrite an existing figure")
    _cache_flags(p)
    return p


def _set_flag(parser, help: str) -> None:
    """`--set STAGE.PARAM=VALUE` (repeatable): config overrides, into `args.overrides`."""
    parser.add_argument(
        "--set", action="append", default=[], metavar="STAGE.PARAM=VALUE", dest="overrides",
        help=help,
    )  # fmt: skip


def _cache_flags(parser) -> None:
    group = parser.add_argument_group(
        "compilation cache (compiled kernels kept on disk for the next run; "
        f"or {compile_cache.ENV_VAR}=DIR|off)"
    )
    group.add_argument(
        "--cache-dir",
        metavar="DIR",
        help=f"cache directory (default: {compile_cache.default_cache_dir()})",
    )
    group.add_argument(
        "--no-cache", action="store_true", help="neither read nor write compiled kernels"
    )


def _device_flags(parser) -> None:
    parser.add_argument(
        "--cpu-devices",
        type=int,
        metavar="N",
        help="JAX CPU devices, one chunk of an analog run on each at a time (default: "
        f"{distributed.CPU_DEVICES_ENV}, else one per core, at most "
        f"{distributed.MAX_CPU_DEVICES}; 1 for JAX's single device); results are the same "
        "for any number",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default sys.argv[1:]); returns the exit status.

    Python warnings raised meanwhile are printed as one `photonmc: warning: ...` line
    each (`warn`), without source lines, and each distinct line once.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    _WARNED.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = _show_warning
        return _main(argv)


#: Warning lines this command has printed: each is printed once (a second run made by the
#: same command, such as the orthogonal reference of an HOM link, repeats none)
_WARNED: set[str] = set()


def warn(message: str) -> None:
    """Print one line `photonmc: warning: <message>` on stderr, once per command."""
    line = f"photonmc: warning: {' '.join(str(message).split())}"
    if line not in _WARNED:
        _WARNED.add(line)
        print(line, file=sys.stderr)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    warn(str(message))


def _main(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(argv)
        args.argv = argv
        if hasattr(args, "cpu_devices"):  # before JAX's first operation fixes its devices
            if args.cpu_devices is not None and args.cpu_devices < 1:
                raise UsageError(
                    f"--cpu-devices must be a whole number >= 1, got {args.cpu_devices}"
                )
            distributed.use_cpu_cores(args.cpu_devices)
        if getattr(args, "no_cache", False):
            compile_cache.configure(False)
        else:
            compile_cache.configure(getattr(args, "cache_dir", None))
        commands = {
            "simulate": cmd_simulate,
            "show": cmd_show,
            "plot": cmd_plot,
            "fit": cmd_fit,
            "optimize": cmd_optimize,
            "sweep": cmd_sweep,
            "correlate": cmd_correlate,
            "memory": cmd_memory,
        }
        return commands[args.command](args)
    except SystemExit as e:  # --help and --version
        return e.code if isinstance(e.code, int) else 0
    except (UsageError, ConfigError, ResultFileError, ValueError, KeyError, OSError) as e:
        return _fail(e)
    except KeyboardInterrupt:
        print("photonmc: interrupted", file=sys.stderr)
        return 130
    except Interrupted as e:
        print(f"photonmc: interrupted; {e}", file=sys.stderr)
        return 130


class Interrupted(Exception):
    """Ctrl-C during a run that saved its progress; the message says how to go on."""


def dumps(obj) -> str:
    """One JSON object, strict (no NaN or Infinity): a non-finite float becomes null, so
    printing never fails after a file is written. Figures say why (`Estimate.as_dict`)."""
    return json.dumps(_finite(obj), allow_nan=False)


def _finite(obj):
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _finite(obj.tolist())
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _fail(error: BaseException) -> int:
    text = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    message = " ".join(str(text).split()) or type(error).__name__
    print(f"photonmc: error: {message}", file=sys.stderr)
    return USER_ERROR


# ------------------------------------------------------------------ simulate
def cmd_simulate(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)
    for flag, key in (
        ("shots", "shots"),
        ("seed", "seed"),
        ("mode", "mode"),
        ("chunk_shots", "chunk_shots"),
    ):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"run.{key}={json.dumps(value)}")
    every = args.checkpoint_every
    if not (math.isfinite(every) and every > 0):
        raise UsageError(f"--checkpoint-every must be a number of seconds > 0, got {every!r}")
    distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    cfg = load_config(args.config, overrides)
    out = args.out if args.out is not None else f"{Path(args.config).stem}.h5"
    writer = distributed.is_writer()
    if writer:
        check_writable(out, args.force or args.resume)  # fail before a long run
    options = {}
    partial = f"{out}.partial"
    correlations = (
        len(cfg.link.detectors) > 1
        and not args.no_correlations
        and not args.resume
        and jax.process_count() == 1
    )
    if correlations:
        options["correlations"] = True
    if correlations and cfg.mode == "analog":
        pass  # the coincidences stream from the click records, which a checkpoint lacks
    elif cfg.mode == "analog" and jax.process_count() == 1 and not args.timetags:
        # a long run saves its accumulators, resumable after a crash, kill or Ctrl-C
        if not args.resume and not args.force and os.path.exists(partial):
            raise FileExistsError(
                f"{partial} holds an interrupted run ({_saved_shots(partial)}); continue it "
                f"with: {_resume_command(args.argv)}; or add --force to start over and "
                "discard it"
            )
        options["checkpoint"] = Checkpointing(partial, every_s=every, resume=args.resume)
    elif args.resume:
        raise ValueError("--resume needs a single-process analog run without --timetags")
    tags_writer = None
    if args.timetags:
        if cfg.mode != "analog":
            raise ValueError("--timetags needs an analog run (--mode analog)")
        tags_writer, options["on_records"] = simulation_writer(
            args.timetags, cfg.link, force=args.force
        )
    try:
        result = cfg.simulate(progress=True, **options)
    except KeyboardInterrupt:
        if tags_writer is not None:
            tags_writer.abort()
        if "checkpoint" in options and os.path.exists(partial):
            raise Interrupted(
                f"{_saved_shots(partial)} saved in {partial}; continue with: "
                f"{_resume_command(args.argv)}"
            ) from None
        raise
    except BaseException:
        if tags_writer is not None:
            tags_writer.abort()
        raise
    if tags_writer is not None:
        tags_writer.close()
    if writer:
        write_result(result, out, force=args.force or args.resume)
        _report(result, out, as_json=args.json, resumed=args.resume)
    return 0


def _saved_shots(partial: str) -> str:
    """ "N of M shots saved" for a checkpoint file, or what is wrong with it."""
    try:
        done, total = read_checkpoint_progress(partial)
    except CheckpointError as e:
        return f"unreadable: {e}"
    return f"{done:,} of {total:,} shots"


def _resume_command(argv: Sequence[str]) -> str:
    """The command line that continues this run: the same arguments, with --resume."""
    kept = [a for a in argv if a != "--force"]
    if "--resume" not in kept:
        kept.append("--resume")
    return shlex.join(["photonmc", *kept])


def _distributed_flags(parser) -> None:
    group = parser.add_argument_group(
        "several processes (jax.distributed; or PHOTONMC_COORDINATOR, "
        "PHOTONMC_NUM_PROCESSES, PHOTONMC_PROCESS_ID)"
    )
    group.add_argument("--coordinator", metavar="HOST:PORT", help="address of process 0")
    group.add_argument("--num-processes", type=int, metavar="N")
    group.add_argument("--process-id", type=int, metavar="I")


# --------------------------------------------------------------------- sweep
def cmd_sweep(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)
    for flag in ("shots", "seed", "mode", "chunk_shots"):
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"run.{flag}={json.dumps(value)}")
    cfg = load_config(args.config, overrides)
    params = {}
    for spec in args.param:
        name, eq, values = spec.partition("=")
        if not eq:
            raise ValueError(f"--param takes STAGE.PARAM=start:stop:num, got {spec!r}")
        params[name.strip()] = grid_values(values.strip())
    out = args.out if args.out is not None else f"{Path(args.config).stem}_sweep.h5"
    check_writable(out, args.force)
    if args.plot:
        _check_plot_target(Path(args.plot), args.force, "--plot")  # before the sweep runs
    n_points = int(np.prod([len(v) for v in params.values()]))
    with _PointProgress(n_points) as progress:
        result = sweep(
            cfg.link,
            params,
            cfg.shots,
            cfg.seed,
            cfg.mode,
            chunk_shots=cfg.chunk_shots,
            retrieval_window_ns=cfg.retrieval_window_ns,
            config_toml=cfg.toml_text,
            progress=progress,
        )
    write_sweep(result, out, force=args.force)
    figures = {
        k: {"value": _nan_none(v), "stderr": _nan_none(e)} for k, (v, e) in result.figures().items()
    }
    if args.plot:
        _plot_sweep(result, args.plot, title=Path(args.config).name)
    if args.json:
        print(
            dumps(
                {
                    "parameters": {
                        n: a.tolist() for n, a in zip(result.names, result.axes, strict=True)
                    },
                    "shape": list(result.shape),
                    "mode": result.mode,
                    "shots": result.shots,
                    "seed": result.seed,
                    "output": str(out),
                    "summary": figures,
                },
            )
        )
    else:
        print(
            f"photonmc {result.mode} sweep of {' x '.join(result.names)}: "
            f"{int(np.prod(result.shape))} points of {result.shots:,} shots -> {out}"
        )
        for k, (v, e) in result.figures().items():
            flat, err = v.ravel(), e.ravel()
            print(
                f"  {k:<22} "
                + ", ".join(f"{a:.4g}+-{b:.2g}" for a, b in zip(flat[:6], err[:6], strict=True))
                + (" ..." if flat.size > 6 else "")
            )
    return 0


class _PointProgress:
    """A tqdm bar on stderr of sweep points done (with its ETA), after a few seconds; only
    on a terminal (enabled None), so scripts and logs get no progress lines."""

    def __init__(self, total: int, delay_s: float = 3.0, enabled: bool | None = None):
        self.total, self.delay_s, self.bar = total, delay_s, None
        self.enabled = sys.stderr.isatty() if enabled is None else enabled

    def __enter__(self):
        from tqdm import tqdm

        self.bar = tqdm(
            total=self.total,
            unit="point",
            delay=self.delay_s,
            dynamic_ncols=True,
            leave=False,
            disable=not self.enabled,
        )
        return self.update

    def update(self, done: int) -> None:
        self.bar.update(done - self.bar.n)

    def __exit__(self, *exc):
        self.bar.close()
        return False


class _FitProgress:
    """A tqdm counter on stderr of fit iterations and the objective, after a few seconds;
    only on a terminal (enabled None)."""

    def __init__(self, delay_s: float = 3.0, enabled: bool | None = None):
        self.delay_s, self.bar = delay_s, None
        self.enabled = sys.stderr.isatty() if enabled is None else enabled

    def __enter__(self):
        from tqdm import tqdm

        self.bar = tqdm(
            unit="it", delay=self.delay_s, dynamic_ncols=True, leave=False, disable=not self.enabled
        )
        return self.update

    def update(self, iteration: int, value: float) -> None:
        self.bar.set_postfix_str(f"iteration {iteration}, -2 ln L {value:.8g}", refresh=False)
        self.bar.update(1)

    def __exit__(self, *exc):
        self.bar.close()
        return False


def _nan_none(a: np.ndarray):
    return [None if not np.isfinite(x) else float(x) for x in np.ravel(a)]


def _plot_sweep(result, path, title: str = "") -> None:
    _check_plot_target(Path(path), True, "--plot")
    _save_atomic(plot.plot_sweep(result, title=title), Path(path))


# ----------------------------------------------------------------- correlate
def add_correlate_parser(subparsers) -> argparse.ArgumentParser:
    """Add the `correlate` subcommand to an argparse subparsers object."""
    p = subparsers.add_parser(
        "correlate",
        help="g2(0) and the coincidence histogram of a time-tag file",
        description=(
            "Coincidence histogram of delays t_B - t_A between two channels of a PTU or "
            "Photon-HDF5 time-tag file, and g2(0): centre-peak area over mean side-peak "
            "area, each peak integrated over +- half a period."
        ),
    )
    p.add_argument("tags", metavar="TAGS", help="time-tag file: .ptu, .h5 or .hdf5")
    p.add_argument(
        "--channels",
        type=_channel_pair,
        default=(0, 1),
        metavar="A,B",
        help="the two channels, integers (default 0,1)",
    )
    p.add_argument(
        "--bin-ps",
        type=float,
        default=correlate.DEFAULT_BIN_PS,
        metavar="W",
        help=f"histogram bin width in ps (default {correlate.DEFAULT_BIN_PS:g})",
    )
    p.add_argument(
        "--range-ns",
        type=float,
        metavar="R",
        help=(
            f"delays from -R to +R ns (default {correlate.DEFAULT_SIDE_PEAKS} side peaks each side)"
        ),
    )
    p.add_argument(
        "--rep-rate-mhz",
        type=float,
        metavar="F",
        help="repetition rate in MHz (default: the file's period)",
    )
    p.add_argument(
        "--out",
        metavar="FILE.h5",
        help="histogram file (default: <TAGS stem>_correlation.h5 in the working directory)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return p


def _channel_pair(text: str) -> tuple[int, int]:
    parts = text.split(",")
    try:
        a, b = (int(x) for x in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--channels takes two integers A,B, got {text!r}"
        ) from None
    if a < 0 or b < 0:
        raise argparse.ArgumentTypeError(f"channels are >= 0, got {text!r}")
    if a == b:
        raise argparse.ArgumentTypeError(f"the two channels must differ, got {text!r}")
    return a, b


def cmd_correlate(args: argparse.Namespace) -> int:
    result, source, out = correlate.correlate_file(
        args.tags,
        channels=args.channels,
        bin_ps=args.bin_ps,
        range_ns=args.range_ns,
        rep_rate_mhz=args.rep_rate_mhz,
        out=args.out,
        force=args.force,
    )
    if args.json:
        summary = {"input": os.fspath(source), "output": os.fspath(out), **result.summary()}
        print(dumps(summary))
    else:
        print(correlate.format_correlation(result, source, out))
    return 0


# ---------------------------------------------------------------------- show
def cmd_show(args: argparse.Namespace) -> int:
    result = read_result(args.result)
    _report(result, args.result, as_json=args.json)
    return 0


def summary_json(result: Result, output: str | os.PathLike) -> dict:
    """The --json object: `Result.summary()` plus `output`, the result file."""
    summary = result.summary()
    summary["output"] = os.fspath(output)
    return summary


def _report(result: Result, output, *, as_json: bool, resumed: bool = False) -> None:
    if as_json:
        summary = summary_json(result, output)
        if resumed:
            summary["resumed"] = True
        print(dumps(summary))
    else:
        print(format_summary(result, output, resumed=resumed))


def format_summary(
    result: Result, output: str | os.PathLike | None = None, *, resumed: bool = False
) -> str:
    """The readable summary printed by `simulate` and `show`."""
    r = result

    def row(label: str, value, note: str = "") -> str:
        return f"{label:<28}{value}" + (f"  ({note})" if note else "")

    seed = "a key" if r.seed is None else f"seed {r.seed}"
    chunks = f", chunks of {r.chunk_shots:,}" if r.analog else ""
    lines = [f"photonmc {r.mode} run: {r.shots:,} shots, {seed}{chunks}"]
    if resumed:
        lines[0] += " (resumed from its checkpoint)"
    rate = ""
    if r.elapsed_s > 0 and math.isfinite(r.elapsed_s):
        rate = f"{r.elapsed_s:.3g} s"
        if r.analog:  # expected mode emits no photons: a rate would mean nothing
            rate = f"{r.photons_emitted / r.elapsed_s:.3g} photons/s over {rate}"
    lines.append(row("photons emitted", _count(r.photons_emitted), rate))
    if math.isfinite(r.compile_s):
        note = "not in the photon rate" if r.analog else "not in the run time"
        lines.append(row("compile time", f"{r.compile_s:.3g} s", note))
    for name, d in r.detectors.items():
        a, b = float(d.bin_edges_ns[0]), float(d.bin_edges_ns[-1])
        lines.append(f"detector {name!r}, tagger window [{a:g}, {b:g}] ns")
        lines.append(f"  {'origin':<14}{'in window':>16}{'all clicks':>16}")
        for origin in (*ORIGINS, None):
            label = origin or "total"
            lines.append(
                f"  {label:<14}{_count(d.in_window(origin)):>16}{_count(d.total(origin)):>16}"
            )
    signal = "retrieved" if r.has_memory else "source"
    lines.append(row("end-to-end efficiency", r.efficiency, f"{signal} clicks in window per shot"))
    if r.has_memory:
        a, b = r.retrieval_window_ns
        none = "undefined: no photon reached the memory"
        eta, leak, snr = r.internal_efficiency(), r.leak_through(), r.snr()
        lines.append(row("internal memory efficiency", _figure(eta, none)))
        lines.append(row("leak-through", _figure(leak, none), "of the photons at the memory"))
        note = "retrieved / (noise + dark)"
        if math.isinf(snr.value):
            note = "no noise counts in the window"
            if r.analog:
                c = r._window_counts(None, None)
                bound = snr_lower_bound(float(c[ORIGINS.index("retrieved")]))
                note += f"; > {bound:.3g} at 95 % confidence"
        lines.append(row(f"SNR in [{a:.4g}, {b:.4g}] ns", snr, note))
        lines.append(row("leak in retrieval window", r.leak_in_window(), "source clicks per shot"))
    stats, notes = r.photon_statistics, r.photon_statistics.get("notes", {})
    for key, label in (
        ("g2_0", "g2(0)"),
        ("hom_visibility", "HOM visibility"),
        ("indistinguishability", "indistinguishability M"),
    ):
        if key in stats:
            lines.append(row(label, stats[key], notes.get(key, "")))
    lines.append(row("fixed delay", f"{r.fixed_delay_ns:.6g} ns", "not in histogram times"))
    if output is not None:
        lines.append(row("output", os.fspath(output)))
    return "\n".join(lines)


def _figure(estimate, undefined: str) -> str:
    return (
        f"undefined ({undefined.split(': ', 1)[1]})"
        if math.isnan(estimate.value)
        else str(estimate)
    )


def _count(x: float) -> str:
    x = float(x)
    return f"{int(x):,}" if x.is_integer() and abs(x) < 1e15 else f"{x:,.6g}"


# ---------------------------------------------------------------------- plot
def cmd_plot(args: argparse.Namespace) -> int:
    from photonmc.io.hdf5 import file_format

    source = Path(args.result)
    kind = file_format(source)
    title = source.name
    if kind == "photonmc.sweep":
        from photonmc.io.sweep_hdf5 import read_sweep

        data, draw = read_sweep(source), plot.plot_sweep
    elif kind == "photonmc.correlation":
        from photonmc.io.correlation_hdf5 import read_correlation

        data, draw = read_correlation(source), plot.plot_correlation
    elif kind == "photonmc.fit":
        from photonmc.io.fit_hdf5 import read_fit

        data, draw = read_fit(source), plot.plot_fit_file
    else:
        data, draw = read_result(source), plot.plot_result  # a bad file is reported here
    try:
        import matplotlib
    except ImportError:
        print(PLOT_HINT, file=sys.stderr)
        return USER_ERROR
    matplotlib.use("Agg")
    out = Path(args.out) if args.out is not None else Path(f"{source.stem}.png")
    check_writable(out, args.force)
    figure = draw(data, title=title)
    _save_atomic(figure, out)
    print(out)
    return 0


def _save_atomic(figure, out: Path) -> None:
    import matplotlib.pyplot as plt

    try:
        with atomic_path(out) as tmp:
            figure.savefig(tmp, format=out.suffix.lstrip(".").lower() or "png", dpi=120)
    finally:
        plt.close(figure)


# ----------------------------------------------------------------------- fit
def cmd_fit(args: argparse.Namespace) -> int:
    from photonmc.fit import fit
    from photonmc.fitspec import load_fit_spec

    if args.plot is not None:
        _check_plot_target(Path(args.plot), args.force, "--plot")
    if args.out is not None:
        out = Path(args.out)
        if out.is_dir():
            raise IsADirectoryError(f"{out} is a directory; give a file name for the fit result")
        check_writable(out, args.force)
    spec = load_fit_spec(args.spec)
    cfg = load_config(spec.config)
    start = _assignments(args.start, "--start", "NAME=VALUE, e.g. --start memory.lifetime_ns=80")
    with _FitProgress() as progress:
        result = fit(cfg.link, spec.datasets, spec.free, start=start, progress=progress)
    if args.out is not None:
        result.write(args.out, spec=spec.text, config_toml=cfg.toml_text, force=args.force)
    if args.plot is not None:
        _save_atomic(plot.plot_fit(result, title=Path(args.spec).name), Path(args.plot))
    if args.json:
        print(dumps(result.as_dict()))
    else:
        print(result.summary())
        for label, path in (("output", args.out), ("figure", args.plot)):
            if path is not None:
                print(f"  {label}: {path}")
    return 0


def _assignments(items: Sequence[str], flag: str, example: str) -> dict[str, float]:
    """{name: number} from NAME=VALUE items (values as TOML literals)."""
    out: dict[str, float] = {}
    for item in items:
        name, eq, literal = item.partition("=")
        value = parse_literal(literal.strip()) if eq else None
        if not eq or not name.strip():
            raise UsageError(f"{flag} {item}: expected {example}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UsageError(f"{flag} {item}: {literal.strip()!r} is not a number")
        try:
            out[name.strip()] = float(value)
        except OverflowError:
            raise UsageError(f"{flag} {name.strip()}: the number is beyond float64") from None
    return out


def _check_plot_target(out: Path, force: bool, flag: str) -> None:
    """matplotlib is there and `out` may be written (before any work)."""
    try:
        import matplotlib
    except ImportError:
        raise UsageError(f"{flag} {_NEEDS_MATPLOTLIB}") from None
    matplotlib.use("Agg")
    check_writable(out, force)


# ------------------------------------------------------------------ optimize
def cmd_optimize(args: argparse.Namespace) -> int:
    from photonmc.optimize import optimize

    cfg = load_config(args.config)
    free = [n.strip() for n in args.free.split(",") if n.strip()]
    bounds: dict[str, tuple[float, float]] = {}
    for item in args.bounds:
        name, eq, interval = item.partition("=")
        lo, colon, hi = interval.partition(":")
        try:
            if not (eq and colon and name.strip()):
                raise ValueError
            bounds[name.strip()] = (float(lo), float(hi))
        except ValueError:
            raise UsageError(
                f"--bounds {item}: expected P=lo:hi, e.g. --bounds memory.write_time_ns=0:2"
            ) from None
    result = optimize(cfg.link, args.objective, free, bounds, memory_input=args.input)
    if args.json:
        print(dumps(result.as_dict()))
    else:
        print(result.summary())
    return 0


# -------------------------------------------------------------------- memory
def cmd_memory(args: argparse.Namespace) -> int:
    from photonmc.memory_report import memory_report

    if args.plot is not None:
        out = Path(args.plot)
        _check_plot_target(out, args.force, "--plot")
    cfg = load_config(args.config, args.overrides)
    report = memory_report(cfg.link, stage=args.stage, input=args.input)
    if args.plot is not None:
        _save_atomic(plot.plot_memory(report, title=Path(args.config).name), Path(args.plot))
    if args.json:
        print(json.dumps(report.to_json(), allow_nan=False))
    else:
        print(report.summary())
        if args.plot is not None:
            print(f"  figure: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
