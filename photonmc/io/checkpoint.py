"""Checkpoints of long analog runs: the integer accumulators and the chunk counter.

A checkpoint holds everything a run has accumulated after its first `next_chunk`
chunks: the int64 histogram, the integer counters, and the float counters of every
finished chunk (added exactly at the end, so a resumed run gives the same result, bit
for bit, as an uninterrupted one). `identity` records what the run was (link,
seed, shots, chunk size, plan): a checkpoint is resumed only by the same run.

Written atomically (temporary file, fsync, rename), so a kill during a write leaves the
previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import h5py
import numpy as np

from photonmc.io.atomic import atomic_path

FORMAT = "photonmc.checkpoint"


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed (missing, damaged, or of another run)."""


def write_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Write `state` (next_chunk, hist, ints, float_rows, float_names, identity)."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["identity"] = json.dumps(state["identity"], sort_keys=True)
        f.attrs["next_chunk"] = np.int64(state["next_chunk"])
        f["hist"] = np.asarray(state["hist"], np.int64)
        ints = f.create_group("ints")
        for k, v in state["ints"].items():
            ints[k] = np.int64(v)
        f["float_rows"] = np.asarray(state["float_rows"], np.float64)
        f.attrs["float_names"] = json.dumps(list(state["float_names"]))


def read_checkpoint(path: str | os.PathLike, identity: dict) -> dict:
    """The state saved at `path`, after checking that it belongs to the run `identity`."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no checkpoint to resume from")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise CheckpointError(f"{path}: not a photonmc checkpoint")
            saved = _identity(f, path)
            if saved != json.loads(json.dumps(identity, sort_keys=True)):
                diff = sorted(
                    k for k in set(saved) | set(identity) if saved.get(k) != identity.get(k)
                )
                raise CheckpointError(
                    f"{path}: the checkpoint is of another run (differs in {', '.join(diff)})"
                )
            return {
                "identity": saved,
                "next_chunk": int(f.attrs["next_chunk"]),
                "hist": f["hist"][()],
                "ints": {k: int(v[()]) for k, v in f["ints"].items()},
                "float_rows": f["float_rows"][()],
                "float_names": json.loads(f.attrs["float_names"]),
            }
    except (OSError, KeyError, ValueError, TypeError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"{path}: damaged checkpoint ({' '.join(str(e).split())})") from None


def read_checkpoint_progress(path: str | os.PathLike) -> tuple[int, int]:
    """(shots saved, shots of the run) of a checkpoint; CheckpointError if unreadable."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise CheckpointError(f"{path}: not a photonmc checkpoint")
            identity = _identity(f, path)
            shots = int(identity["shots"])
            chunk = re.search(r"chunk_shots=(\d+)", str(identity["plan"]))
            done = int(f.attrs["next_chunk"]) * int(chunk.group(1)) if chunk else 0
    except CheckpointError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: damaged checkpoint ({' '.join(str(e).split())})") from None
    return min(done, shots), shots


def _identity(f: h5py.File, path: Path) -> dict:
    try:
        identity = json.loads(f.attrs["identity"])
    except (ValueError, TypeError):
        raise CheckpointError(
            f"{path}: damaged checkpoint (its run identity is not readable)"
        ) from None
    if not isinstance(identity, dict):
        raise CheckpointError(f"{path}: damaged checkpoint (its run identity is not readable)")
    return identity
