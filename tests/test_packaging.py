"""What an install puts on the machine: one ``wishstar`` namespace (nothing generic such as ``cli`` or ``tasks``
at the top of site-packages), with the package data the code reads at run time; and the suite runs both as
``pytest`` and as ``python -m pytest``."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_installs_everything_under_the_wishstar_namespace(tmp_path: Path) -> None:
    had_build_dir = (ROOT / "build").exists()
    try:
        _build_wheel(tmp_path)
    finally:  # setuptools builds in the source tree's build/: leave the checkout as it was
        if not had_build_dir:
            shutil.rmtree(ROOT / "build", ignore_errors=True)
    (wheel,) = tmp_path.glob("wishstar-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"wishstar", wheel.name.split("-py")[0] + ".dist-info"}
    for wanted in ("wishstar/cli/main.py", "wishstar/engine/runner.py",
                   "wishstar/tasks/library/git-clone/1/git-clone.yaml", "wishstar/engine/store/alembic.ini",
                   "wishstar/engine/store/migrations/env.py",
                   "wishstar/steps/entrypoint/entrypoint.sh", "wishstar/tasks/catalog.py"):
        assert wanted in names
    assert "wishstar/__init__.py" not in names, "wishstar is a namespace package"
    entry_points = zipfile.ZipFile(wheel).read(f"{wheel.name.split('-py')[0]}.dist-info/entry_points.txt").decode()
    assert "wishstar = wishstar.cli.main:main" in entry_points


def _build_wheel(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, timeout=300, cwd=tmp_path)


def test_the_top_level_folders_are_not_importable_by_their_bare_names(tmp_path: Path) -> None:
    probe = "import importlib.util as u; print([n for n in ('cli', 'engine', 'tasks', 'webhook') if u.find_spec(n)])"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert out.stdout.strip() == "[]"


def test_plain_pytest_and_python_m_pytest_both_collect_the_suite() -> None:
    bindir = Path(sys.executable).parent
    # a test directory that is not a package collects only with others' help (plain `pytest tests/spec` fails)
    folders = [p for p in (ROOT / "tests").iterdir() if list(p.glob("test_*.py"))]
    assert [f.name for f in folders if not (f / "__init__.py").exists()] == []
    for command, paths in (([str(bindir / "pytest")], ["tests"]), ([sys.executable, "-m", "pytest"], ["tests"]),
                           ([str(bindir / "pytest")], ["tests/spec"])):
        proc = subprocess.run([*command, "--collect-only", "-q", "-p", "no:cacheprovider", *paths],
                              capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert proc.returncode == 0, f"{command} {paths}: " + proc.stdout[-2000:] + proc.stderr[-2000:]
