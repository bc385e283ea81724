"""The persistent compilation cache, and compiling once per plan (no timed assertions)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import fiber_link

import photonmc as pmc
from photonmc import compile_cache
from photonmc.cli import build_parser


@pytest.fixture
def restore_cache():
    """Put the process's cache choice back after a test that changes it."""
    before = jax.config.jax_compilation_cache_dir
    yield
    compile_cache.configure(before if before else False)


def test_requested_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(compile_cache.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert compile_cache.requested_dir() == tmp_path / "xdg" / "photonmc" / "jax"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert compile_cache.requested_dir() == tmp_path / "home" / ".cache" / "photonmc" / "jax"
    monkeypatch.setenv(compile_cache.ENV_VAR, str(tmp_path / "moved"))
    assert compile_cache.requested_dir() == tmp_path / "moved"
    for off in ("off", "OFF", "0", "none"):
        monkeypatch.setenv(compile_cache.ENV_VAR, off)
        assert compile_cache.requested_dir() is None
    assert compile_cache.requested_dir(False) is None
    assert compile_cache.requested_dir(tmp_path / "given") == tmp_path / "given"


def test_configure_writes_entries_there_and_off_disables(tmp_path, restore_cache):
    where = compile_cache.configure(tmp_path / "cache")
    assert where == (tmp_path / "cache").resolve()
    assert compile_cache.active_dir() == where
    # a program this process has never compiled (its constant is unique to this test)
    jax.jit(lambda x: jnp.sin(x) * 1.2345678 + 0.7654321)(jnp.arange(7.0)).block_until_ready()
    assert any(where.iterdir()), "nothing was written to the cache directory"
    assert compile_cache.configure(False) is None
    assert compile_cache.active_dir() is None
    # and on again at another place
    other = compile_cache.configure(tmp_path / "other")
    jax.jit(lambda x: jnp.cos(x) * 2.3456789)(jnp.arange(5.0)).block_until_ready()
    assert any(other.iterdir())


def test_a_directory_the_user_gave_jax_is_kept(tmp_path, restore_cache):
    compile_cache.configure(False)
    jax.config.update("jax_compilation_cache_dir", str(tmp_path / "mine"))
    assert compile_cache.configure(tmp_path / "ours") == tmp_path / "mine"
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / "mine")
    jax.config.update("jax_compilation_cache_dir", None)


def test_cli_flags():
    parser = build_parser()
    for command in (["simulate", "x.toml"], ["sweep", "x.toml", "--param", "a.b=0:1:2"]):
        args = parser.parse_args([*command, "--no-cache"])
        assert args.no_cache and args.cache_dir is None
        args = parser.parse_args([*command, "--cache-dir", "/somewhere"])
        assert args.cache_dir == "/somewhere" and not args.no_cache


def test_second_run_with_another_shot_count_compiles_nothing(capsys):
    link = fiber_link(dark=1e4)
    chunk = 3001  # a chunk size no other test uses: its kernel is compiled here
    compiles = []

    def listener(event, seconds, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(seconds)

    first = pmc.simulate(link, 10_000, key=1, chunk_shots=chunk, progress=True)
    err = capsys.readouterr().err
    assert "photonmc: compiling the analog kernel ... done in" in err
    assert first.compile_s > 0 and first.elapsed_s > 0
    assert first.summary()["compile_seconds"] == pytest.approx(first.compile_s)
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        second = pmc.simulate(link, 23_456, key=2, chunk_shots=chunk, progress=True)
        third = pmc.simulate(link.set("fiber.length_km", 2.0), 77, key=3, chunk_shots=chunk)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert compiles == []
    assert second.compile_s == 0 and third.compile_s == 0
    assert "compiling" not in capsys.readouterr().err
    assert second.photons_emitted > 0 and np.isfinite(second.elapsed_s)


def _kernel_files(where):
    folder = where / compile_cache.KERNEL_DIR
    return sorted(folder.iterdir()) if folder.exists() else []


def test_a_stored_kernel_is_loaded_without_tracing_and_gives_the_same_result(
    tmp_path, restore_cache, monkeypatch
):
    pytest.importorskip("flatbuffers")
    import photonmc.analog as analog

    where = compile_cache.configure(tmp_path / "cache")
    link = fiber_link(dark=3e4, dead=15.0)
    chunk = 2999  # a chunk size no other test uses
    monkeypatch.setattr(analog, "_KERNELS", {})
    first = pmc.simulate(link, 9_000, key=5, chunk_shots=chunk)
    files = _kernel_files(where)
    assert len(files) == 1 and not files[0].name.startswith(".")

    # A new process, as far as photonmc knows: nothing compiled, nothing traced.
    monkeypatch.setattr(analog, "_KERNELS", {})
    monkeypatch.setattr(analog, "_INFO_NAMES", {})

    def no_trace(*args, **kwargs):
        raise AssertionError("the stored kernel was traced again")

    with monkeypatch.context() as m:
        m.setattr(analog, "analog_chunk", no_trace)
        second = pmc.simulate(link, 9_000, key=5, chunk_shots=chunk)
    np.testing.assert_array_equal(first.detector().counts, second.detector().counts)
    np.testing.assert_array_equal(first.detector().totals, second.detector().totals)
    assert first.summary()["detectors"] == second.summary()["detectors"]

    # The blocks jitted directly (no export): the same integers and float sums.
    monkeypatch.setattr(analog, "_KERNELS", {})
    monkeypatch.setattr(analog, "_exported_blocks", lambda *args, **kwargs: None)
    direct = pmc.simulate(link, 9_000, key=5, chunk_shots=chunk)
    np.testing.assert_array_equal(first.detector().counts, direct.detector().counts)
    assert first.memory_sums == direct.memory_sums
    assert first.summary()["detectors"] == direct.summary()["detectors"]


def test_a_damaged_stored_kernel_is_a_miss_and_is_replaced(tmp_path, restore_cache, monkeypatch):
    pytest.importorskip("flatbuffers")
    import photonmc.analog as analog

    where = compile_cache.configure(tmp_path / "cache")
    link = fiber_link(dark=3e4)
    chunk = 2997
    monkeypatch.setattr(analog, "_KERNELS", {})
    first = pmc.simulate(link, 5_000, key=2, chunk_shots=chunk)
    (path,) = _kernel_files(where)
    whole = path.read_bytes()
    for damaged in (whole[: len(whole) // 2], b"not a kernel", whole[:-1] + b"x"):
        path.write_bytes(damaged)
        assert compile_cache.load_kernel(path.name) is None
        monkeypatch.setattr(analog, "_KERNELS", {})
        again = pmc.simulate(link, 5_000, key=2, chunk_shots=chunk)
        np.testing.assert_array_equal(first.detector().counts, again.detector().counts)
        assert compile_cache.load_kernel(path.name) is not None  # written anew
    assert [p.name for p in _kernel_files(where)] == [path.name]  # no temporary files left


def test_kernel_names_depend_on_the_structure_and_the_sources(monkeypatch):
    a = compile_cache.kernel_name("blocks", "structure a", 4)
    assert a == compile_cache.kernel_name("blocks", "structure a", 4)
    assert a != compile_cache.kernel_name("blocks", "structure b", 4)
    assert a != compile_cache.kernel_name("blocks", "structure a", 8)
    monkeypatch.setattr(compile_cache, "source_digest", lambda: "other sources")
    assert a != compile_cache.kernel_name("blocks", "structure a", 4)


def test_a_process_crowded_with_programs_releases_them(monkeypatch):
    """Past CROWDED_MAPS of the memory-map limit, simulate first releases every compiled
    program (JAX's and photonmc's), and the next run compiles its kernel again."""
    from photonmc import analog

    link = fiber_link(dark=1e4)
    pmc.simulate(link, 1000, key=1, chunk_shots=1024)
    assert analog._KERNELS
    maps = compile_cache.memory_maps()
    if maps is None:
        pytest.skip("this system does not report its memory maps")
    held, limit = maps
    assert 0 < held < limit
    assert not compile_cache.release_if_crowded()  # this process is far from the limit
    assert analog._KERNELS
    monkeypatch.setattr(compile_cache, "CROWDED_MAPS", held / limit / 2)
    assert compile_cache.release_if_crowded()  # now past the (lowered) share: released
    assert not analog._KERNELS
    again = pmc.simulate(link, 1000, key=1, chunk_shots=1024)  # released again, then compiled
    assert again.photons_emitted > 0
    assert len(analog._KERNELS) == 1  # only this run's kernel is held
