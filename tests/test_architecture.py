"""Layers only point down (pyproject's import-linter contract), and the size limits of issue 14."""

import ast
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_layers_only_point_down():
    assert shutil.which("lint-imports"), "import-linter is a dev dependency: pip install -e '.[dev]'"
    r = subprocess.run(["lint-imports"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:]


def test_no_long_files_or_functions():
    long = []
    for p in sorted((ROOT / "vqtool").rglob("*.py")):
        text = p.read_text()
        if len(text.splitlines()) > 310:
            long.append(f"{p.relative_to(ROOT)}: {len(text.splitlines())} lines")
        for f in ast.walk(ast.parse(text)):
            if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f.end_lineno - f.lineno + 1 > 60:
                long.append(f"{p.relative_to(ROOT)}:{f.lineno} {f.name}: {f.end_lineno - f.lineno + 1} lines")
    assert not long, "\n".join(long)


def test_no_import_cycles():
    """No module reaches itself through imports (lazy ones included): gpt <-> local_gpt was one."""
    import grimp

    g = grimp.build_graph("vqtool")
    cycles = [m for m in g.modules
              if any(g.chain_exists(importer=d, imported=m) for d in g.find_modules_directly_imported_by(m))]
    assert not cycles, cycles
