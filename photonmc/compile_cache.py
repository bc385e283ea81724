"""JAX's persistent compilation cache, on by default for photonmc's CLI and `simulate`.

A compiled program is stored on disk under a key of its code, shapes, compile options
and JAX version, so the next process that needs the same program loads it instead of
compiling it again (the analog kernel takes ~10 s to compile on 2 CPU cores).

Where: `$PHOTONMC_CACHE_DIR` if set, else `$XDG_CACHE_HOME/photonmc/jax`, else
`~/.cache/photonmc/jax`. `PHOTONMC_CACHE_DIR=off` (or `0`, `none`, `false`) disables it;
the CLI's `--cache-dir DIR` and `--no-cache` do the same for one command. A cache
directory that the user gave JAX itself (`JAX_COMPILATION_CACHE_DIR`, or
`jax.config.update("jax_compilation_cache_dir", ...)`) is left as it is.

Several processes may share the directory: an entry's name is its content key, so two
writers of one entry write the same bytes, and an entry that cannot be read (a reader
racing a writer, a writer killed mid-write) is treated by JAX as a miss with a warning
and compiled again: a shared cache can cost a compilation, never give a wrong program.
The directory grows with each new program (one per link structure and chunk size, a
few MB each); delete it at any time.

Beside XLA's programs, photonmc keeps its analog kernel lowered (`jax.export`, in the
subdirectory `photonmc-kernels`), so a later process neither traces nor lowers it in
Python: a warm run only loads. An entry is named by a digest of the link's static
structure, the plan's shapes, photonmc's sources, the jax, jaxlib and numpy versions,
the backend and jax's configuration (`kernel_name`); it is written atomically and
checked (sha256) when read, so a damaged or foreign file is a miss. It needs the
`flatbuffers` package (a dependency); without it only XLA's programs are kept. Like
JAX's own cache, the directory holds programs this process will run: keep it private.

In memory, a process keeps every program it has compiled or loaded (JAX's own caches
and photonmc's compiled kernels and problems); `clear_caches` releases them all. Each
XLA:CPU program holds a few memory maps, and once a process reaches Linux's limit
(`vm.max_map_count`, 65530 by default; some twenty thousand programs), LLVM's code
loader crashes the process (a segmentation fault while compiling or loading a program,
not a Python error). So `simulate` calls `release_if_crowded` first, which clears the
caches when the process holds more than half its limit of maps: a process that builds
thousands of different links then compiles some programs twice, and never crashes.

Enabling the cache sets JAX's process-wide thresholds so that every program is kept
(`jax_persistent_cache_min_compile_time_secs = 0`,
`jax_persistent_cache_min_entry_size_bytes = 0`): photonmc's small helper programs
compile in tens of ms each, and together they are a good part of a warm run's start.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path

import jax

ENV_VAR = "PHOTONMC_CACHE_DIR"
_OFF = ("off", "0", "none", "false", "no")

#: the directory photonmc set (None: not set by photonmc)
_ours: str | None = None
_disabled_by_us = False
#: whether configure() ran in this process (ensure() then leaves the choice alone)
_configured = False


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/photonmc/jax`, or `~/.cache/photonmc/jax` (the environment
    variable is not consulted here)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "photonmc" / "jax"


def requested_dir(directory: str | os.PathLike | bool | None = None) -> Path | None:
    """The cache directory asked for: `directory` if given (False: none), else the
    environment variable, else the default; None when disabled."""
    if directory is False:
        return None
    if directory is None or directory is True:
        env = os.environ.get(ENV_VAR)
        if env is not None and env.strip().lower() in _OFF:
            return None
        if env:
            return Path(env).expanduser()
        return default_cache_dir()
    text = os.fspath(directory)
    if text.strip().lower() in _OFF:
        return None
    return Path(text).expanduser()


def configure(directory: str | os.PathLike | bool | None = None) -> Path | None:
    """Turn the persistent compilation cache on (or off) for this process.

    directory: a path, False to disable, or None for `$PHOTONMC_CACHE_DIR` or the
    default (module docstring). Returns the directory in use, or None. Idempotent and
    cheap; a cache directory set by the user directly in JAX is kept. A directory that
    cannot be created disables the cache (with no error: the cache only saves time).
    """
    global _ours, _disabled_by_us, _configured
    _configured = True
    current = jax.config.jax_compilation_cache_dir
    if current and current != _ours:
        return Path(current)  # the user's own choice
    path = requested_dir(directory)
    if path is not None:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            path = None
    if path is None:
        if _ours is not None or not _disabled_by_us:
            _set(None)
            _disabled_by_us = True
        return None
    target = os.fspath(path.resolve())
    if target != _ours:
        _set(target)
    _disabled_by_us = False
    return Path(target)


def ensure() -> Path | None:
    """`configure()` from the environment, unless this process configured the cache
    already (a CLI flag, or a call of `configure`); returns the directory in use."""
    if _configured:
        return active_dir()
    return configure()


def active_dir() -> Path | None:
    """The directory JAX caches compiled programs in, or None."""
    current = jax.config.jax_compilation_cache_dir
    if not current or not jax.config.jax_enable_compilation_cache:
        return None
    return Path(current)


def _set(target: str | None) -> None:
    global _ours
    previous = _ours
    if target is not None:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    jax.config.update("jax_compilation_cache_dir", target)
    _ours = target
    if previous is not None:
        # JAX opens its cache once per process; after a change, open it again.
        from jax.experimental.compilation_cache import compilation_cache

        compilation_cache.reset_cache()


# ------------------------------------------------------------------ in memory
#: photonmc's in-process caches of compiled programs (each has .clear())
_IN_MEMORY: list = []


def in_memory(cache):
    """Register `cache` (anything with `.clear()`) as one that `clear_caches` empties;
    returns it, so a module can write `_KERNELS = compile_cache.in_memory({})`."""
    _IN_MEMORY.append(cache)
    return cache


def clear_caches() -> None:
    """Release every compiled program this process holds: photonmc's kernels, tables and
    fit and optimisation problems, and JAX's in-memory caches (`jax.clear_caches`). The
    next run compiles again, or loads from the persistent cache; nothing else changes."""
    for cache in _IN_MEMORY:
        cache.clear()
    jax.clear_caches()


#: the share of the process's memory-map limit past which release_if_crowded clears
CROWDED_MAPS = 0.5


def memory_maps() -> tuple[int, int] | None:
    """(memory maps this process holds, the system's limit per process), or None where
    the system does not tell (not Linux)."""
    try:
        with open("/proc/self/maps", "rb") as f:
            held = sum(1 for _ in f)
        with open("/proc/sys/vm/max_map_count") as f:
            limit = int(f.read())
    except (OSError, ValueError):
        return None
    return held, limit


def release_if_crowded() -> bool:
    """`clear_caches()` when this process holds more than CROWDED_MAPS of its limit of
    memory maps (module docstring); returns whether it did."""
    maps = memory_maps()
    if maps is None or maps[0] <= CROWDED_MAPS * maps[1]:
        return False
    clear_caches()
    return True


# ------------------------------------------------------------------ stored kernels
#: subdirectory of the cache directory that holds photonmc's lowered kernels
KERNEL_DIR = "photonmc-kernels"
_MAGIC = b"photonmc-kernel 1\n"


def kernel_dir() -> Path | None:
    """Where lowered kernels are kept (a subdirectory of the active cache directory),
    or None when the cache is off or `jax.export` cannot serialize (no flatbuffers)."""
    active = active_dir()
    if active is None:
        return None
    try:
        import flatbuffers  # noqa: F401  (jax.export's serialization needs it)
    except ImportError:
        return None
    return active / KERNEL_DIR


@functools.cache
def source_digest() -> str:
    """sha256 of photonmc's Python sources (the package and its kernels): a stored
    kernel is only reused by the code that traced it."""
    import photonmc
    import photonmc.kernels

    digest = hashlib.sha256()
    roots = [Path(photonmc.__file__).parent, *(Path(p) for p in photonmc.kernels.__path__)]
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            digest.update(os.fspath(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def kernel_name(*parts) -> str:
    """The file name of a stored kernel: a digest of `parts` (the program's own static
    structure, as text or bytes) and of everything else a trace depends on: photonmc's
    sources, the jax, jaxlib and numpy versions, the backend and its devices, jax's
    configuration (its cache settings aside) and XLA_FLAGS."""
    import jaxlib
    import numpy

    digest = hashlib.sha256()
    backend = jax.devices()[0].client
    context = [
        source_digest(),
        jax.__version__,
        jaxlib.__version__,
        numpy.__version__,
        backend.platform,
        backend.platform_version,
        os.environ.get("XLA_FLAGS", ""),
        sorted((k, v) for k, v in os.environ.items() if k.startswith("PHOTONMC_") and k != ENV_VAR),
        sorted((k, repr(v)) for k, v in jax.config.values.items() if "cache" not in k),
        # context managers (jax.threefry_partitionable, ...) are not in config.values
        jax.config.jax_threefry_partitionable,
        jax.config.jax_enable_x64,
    ]
    for part in [*context, *parts]:
        data = part if isinstance(part, bytes) else repr(part).encode()
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def load_kernel(name: str):
    """The stored `jax.export.Exported` of `name` and its metadata dict, or None when
    there is none or it cannot be read (then the caller traces it again)."""
    where = kernel_dir()
    if where is None:
        return None
    try:
        data = (where / name).read_bytes()
        if not data.startswith(_MAGIC):
            return None
        n = int.from_bytes(data[len(_MAGIC) : len(_MAGIC) + 8], "little")
        start = len(_MAGIC) + 8
        meta = json.loads(data[start : start + n])
        payload = data[start + n :]
        if meta.get("name") != name or meta.get("sha256") != hashlib.sha256(payload).hexdigest():
            return None
        exported = jax.export.deserialize(bytearray(payload))
    except Exception:  # a missing, partial or foreign file is a miss
        return None
    return exported, meta


def store_kernel(name: str, exported, meta: dict) -> bool:
    """Keep `exported` (a `jax.export.Exported`) under `name`, written atomically
    (a temporary file renamed into place), so a reader in another process sees the
    whole file or none. Returns whether it was stored; failures are silent (the
    store only saves time)."""
    where = kernel_dir()
    if where is None:
        return False
    tmp = None
    try:
        payload = bytes(exported.serialize())
        meta = dict(meta, name=name, sha256=hashlib.sha256(payload).hexdigest())
        head = json.dumps(meta, sort_keys=True).encode()
        where.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=where, prefix=f".{name[:16]}-", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC + len(head).to_bytes(8, "little") + head + payload)
        os.replace(tmp, where / name)
        return True
    except Exception:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        return False
