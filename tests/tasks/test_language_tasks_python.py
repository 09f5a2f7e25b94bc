"""The python library task installs what its params say into a fresh virtualenv and runs pytest, for real
through ``wishstar run`` (python3 -m venv is here; pip fetches pytest, setuptools and the fixtures'
dependencies from PyPI): the project itself with its extras, a requirements file named by a param, pytest
only when the project does not bring it, pytest's arguments, clear refusals, and the pip cache workspace.
Passing and failing projects: test_language_tasks.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.tasks.language_tasks import pipeline, project, run
from wishstar.engine.spec.model import ParamValue

pytestmark = [pytest.mark.toolchain, pytest.mark.timeout(600),
              pytest.mark.skipif(shutil.which("python3") is None, reason="needs python3 on PATH")]

PACKAGE = {
    "pyproject.toml": """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "calc"
version = "1.0"

[project.optional-dependencies]
test = ["pytest>=8"]

[tool.setuptools]
py-modules = ["calc"]
""",
    "calc.py": "def add(a, b):\n    return a + b\n",
    # The installed distribution's metadata exists only if pip installed the project.
    "tests/test_calc.py": "from importlib.metadata import version\n\nimport calc\n\n\n"
                          "def test_add():\n    assert calc.add(2, 3) == 5\n\n\n"
                          "def test_installed():\n    assert version('calc') == '1.0'\n",
}
NOT_A_PACKAGE = {"test_truth.py": "def test_truth():\n    assert True\n\n\ndef test_other():\n    assert 1\n"}


CASES = [
    ("the project with its extras", PACKAGE, {"extras": "test"},
     0, ("python: pip install .[test]", "2 passed"), "does not bring pytest"),
    ("pytest only when the project lacks it", NOT_A_PACKAGE, {},
     0, ("python: pip install pytest (the project does not bring pytest)", "2 passed"), "python: pip install -r"),
    ("a requirements file named by the param", {**NOT_A_PACKAGE, "ci/test.txt": "pytest>=8\n"},
     {"requirements": "ci/test.txt", "args": ["-k", "other"]},
     0, ("python: pip install -r ci/test.txt", "1 passed, 1 deselected"), "does not bring pytest"),
    ("install: project refuses a directory that is not a package", NOT_A_PACKAGE, {"install": "project"},
     2, ("is not a Python package: no setup.py, and no [project] or [build-system] table in pyproject.toml",),
     "python: pytest"),
    ("install: requirements refuses a missing file", NOT_A_PACKAGE, {"install": "requirements"},
     2, ("python: no requirements file 'requirements.txt'",), "python: pytest"),
]


@pytest.mark.parametrize(("files", "with_", "code", "said", "not_said"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_the_install_params_decide_what_pip_installs_before_pytest(
        tmp_path: Path, files: dict[str, str], with_: dict[str, ParamValue], code: int, said: tuple[str, ...],
        not_said: str) -> None:
    ran = run(tmp_path, project(tmp_path, "calc", pipeline("calc", "python@1", with_), files=files))
    assert ran.code == (0 if code == 0 else 1), ran.output + ran.log
    assert ran.record["tasks"][0]["exit_code"] == code, ran.output + ran.log
    for line in said:
        assert line in ran.log, ran.log
    assert not_said not in ran.log


def test_the_pip_cache_workspace_is_pips_cache_dir(tmp_path: Path) -> None:
    # pip's own cache is not observable here (the package index's responses are marked uncacheable), so the
    # test run by the task checks the variable pip reads.
    files = {"test_cache.py": "import os\n\n\ndef test_cache():\n"
                              "    assert os.environ['PIP_CACHE_DIR'].endswith('/workspaces/pip')\n"}
    text = pipeline("cached", "python@1", workspaces={"pip-cache": "pip"}, pipeline_workspaces=["pip", "other"])
    ran = run(tmp_path, project(tmp_path, "cached", text, files=files))
    assert ran.code == 0, ran.output + ran.log
    assert "1 passed" in ran.log
