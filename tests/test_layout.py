"""The package layout rules: evsim knows nothing of torch, bridges or scenarios."""

import ast
import pathlib
import subprocess
import sys

import evsim

EVSIM_DIR = pathlib.Path(evsim.__file__).parent


def test_importing_evsim_does_not_import_torch():
    code = "import sys, evsim; evsim.simulate; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_evsim_imports_no_torch_bridges_or_scenarios():
    for path in EVSIM_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in ("torch", "bridges", "scenarios"), f"{path.name} imports {name}"
