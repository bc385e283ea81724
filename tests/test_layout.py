"""The package's floors: kernels stand alone, files stay in photonmc.io, the face is light."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import photonmc as pmc

ROOT = pathlib.Path(__file__).resolve().parents[1]
IMPORT = re.compile(r"^\s*(?:from|import)\s+([\w.]+)", re.MULTILINE)


def _imports(path: pathlib.Path) -> set[str]:
    return set(IMPORT.findall(path.read_text(encoding="utf-8")))


def test_kernels_import_nothing_of_photonmc():
    for path in sorted((ROOT / "kernels").glob("*.py")):
        bad = [m for m in _imports(path) if m == "photonmc" or m.startswith("photonmc.")]
        assert not bad, f"{path.name} imports {bad}"


def test_importing_the_kernels_pulls_in_neither_optax_nor_h5py(tmp_path):
    code = (
        "import photonmc.kernels, sys; "
        "assert 'optax' not in sys.modules and 'h5py' not in sys.modules, "
        "sorted(m for m in sys.modules if m.startswith(('optax', 'h5py', 'photonmc')))"
    )
    # outside the checkout: there `photonmc` would be the source folder, without the
    # kernels that an installed (non-editable) photonmc maps into it
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr


def test_only_photonmc_io_imports_h5py():
    for path in sorted((ROOT / "photonmc").rglob("*.py")):
        if "h5py" in _imports(path):
            assert path.parent.name == "io", f"{path.relative_to(ROOT)} imports h5py"


def test_only_the_cli_parses_arguments_and_only_config_reads_toml():
    for path in sorted((ROOT / "photonmc").rglob("*.py")):
        imports = _imports(path)
        if "argparse" in imports:
            assert path.name == "cli.py", f"{path.relative_to(ROOT)} imports argparse"
        if "tomllib" in imports:
            assert path.name == "config.py", f"{path.relative_to(ROOT)} imports tomllib"


def test_public_names_resolve_lazily():
    for name in pmc.__all__:
        assert getattr(pmc, name) is not None
    assert callable(pmc.fit) and callable(pmc.optimize) and callable(pmc.sweep)
    from photonmc import Fiber, simulate

    assert Fiber is pmc.Fiber and simulate is pmc.simulate
