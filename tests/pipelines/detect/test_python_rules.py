"""The Python detector's rules one at a time, on small repositories written by the test: the build tool
ranking, the version sources, the port forms, test discovery, near misses and what never reaches a script."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.pipelines.detect.python_cases import candidates, render
from wishstar.pipelines.detect.python import DETECTOR
from wishstar.pipelines.detect.tree import Tree

PROJECT = '[project]\nname = "demo"\nversion = "1"\ndependencies = []\n'
POETRY = '[tool.poetry]\nname = "demo"\nversion = "1"\n\n[tool.poetry.dependencies]\npython = "^3.12"\n'
PDM = PROJECT + '\n[tool.pdm]\ndistribution = false\n'


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return root


@pytest.mark.parametrize(("files", "order"), [
    ({"requirements.txt": "", "setup.py": "setup()\n"}, ["pip"]),
    ({"requirements.txt": "", "pyproject.toml": PROJECT}, ["pyproject", "pip"]),
    ({"requirements.txt": "", "pyproject.toml": PROJECT, "uv.lock": ""}, ["uv", "pip"]),
    ({"Pipfile": "[packages]\n", "pyproject.toml": PROJECT}, ["pipenv", "pyproject"]),
    ({"Pipfile": "[packages]\n", "pyproject.toml": POETRY}, ["poetry", "pipenv"]),
    ({"Pipfile": "[packages]\n", "Pipfile.lock": "{}", "pyproject.toml": POETRY}, ["pipenv", "poetry"]),
    ({"pyproject.toml": POETRY, "uv.lock": "", "poetry.lock": ""}, ["uv", "poetry"]),
    ({"pyproject.toml": PDM, "requirements.txt": ""}, ["pdm", "pip"]),
    ({"pyproject.toml": PDM, "pdm.lock": "", "poetry.lock": ""}, ["poetry", "pdm"]),
    ({"pyproject.toml": PROJECT, "setup.py": "setup()\n"}, ["pyproject"]),
], ids=["setup.py-joins-pip", "pyproject-over-requirements", "uv.lock-over-requirements",
        "pipfile-over-project", "tool.poetry-over-pipfile", "pipfile.lock-over-tool.poetry",
        "uv.lock-over-poetry.lock", "tool.pdm-over-requirements", "poetry.lock-over-pdm.lock",
        "setup.py-joins-pyproject"])
def test_build_tools_are_ranked_lockfile_then_table_then_requirements(
        tmp_path: Path, files: dict[str, str], order: list[str]) -> None:
    found = candidates(write(tmp_path, files))
    assert [c.build for c in found] == order
    assert (found[0].rule is not None) == (len(order) > 1)
    assert all(c.rule is None for c in found[1:])


def test_project_table_is_the_evidence_of_the_tool_that_reads_it_not_a_second_candidate(tmp_path: Path) -> None:
    [c] = candidates(write(tmp_path, {"pyproject.toml": PROJECT, "uv.lock": ""}))
    assert [str(e) for e in c.evidence] == ["uv.lock uv lockfile", "pyproject.toml:1 [project] table"]


@pytest.mark.parametrize(("files", "value", "where"), [
    ({".python-version": "3.12.4\n", "pyproject.toml": PROJECT + 'requires-python = ">=3.11"\n'}, "3.12",
     ".python-version:1 .python-version 3.12.4"),
    ({"runtime.txt": "python-3.11.9\n", "requirements.txt": ""}, "3.11", "runtime.txt:1 runtime.txt python-3.11.9"),
    ({"pyproject.toml": '[project]\nname = "x"\nrequires-python = "~=3.12.0"\n'}, "3.12",
     "pyproject.toml:3 requires-python ~=3.12.0"),
    ({"pyproject.toml": POETRY}, "3.12", "pyproject.toml:6 [tool.poetry.dependencies] python ^3.12"),
    ({"Pipfile": '[requires]\npython_version = "3.13"\n'}, "3.13", "Pipfile:2 [requires] python_version 3.13"),
], ids=[".python-version-first", "runtime.txt", "requires-python", "poetry-python", "pipfile"])
def test_python_version_comes_from_the_project(tmp_path: Path, files: dict[str, str], value: str,
                                               where: str) -> None:
    c = candidates(write(tmp_path, files))[0]
    assert c.versions["python"].value == value
    assert str(c.versions["python"].evidence) == where


@pytest.mark.parametrize(("files", "port", "where"), [
    ({"app.py": "from flask import Flask\napp = Flask(__name__)\napp.run(port=5001)\n"}, "5001",
     "app.py:3 run(port=5001)"),
    ({"app.py": "from flask import Flask\napp = Flask(__name__)\n", "Procfile": "web: gunicorn app:app -b :7000\n"},
     "7000", "Procfile:1 command -b :7000"),
    ({"wsgi.py": "import flask\napplication = flask.Flask(__name__)\n",
      "gunicorn.conf.py": 'bind = "0.0.0.0:8123"\n'}, "8123", 'gunicorn.conf.py:1 command bind = "0.0.0.0:8123"'),
    ({"app.py": "from flask import Flask\napp = Flask(__name__)\n"}, "5000", None),
], ids=["app.run", "procfile-bind", "gunicorn-conf", "flask-default"])
def test_flask_port_has_evidence_or_is_marked_default(tmp_path: Path, files: dict[str, str], port: str,
                                                      where: str | None) -> None:
    [c] = candidates(write(tmp_path, {"requirements.txt": "flask\ngunicorn\n", **files}))
    assert c.port is not None and c.port.value == port
    assert (str(c.port.evidence) if c.port.evidence else None) == where
    assert c.port.is_default == (where is None)


@pytest.mark.parametrize(("files", "tests"), [
    ({"pytest.ini": "[pytest]\n"}, "pytest.ini pytest configuration: runs pytest"),
    ({"test_thing.py": "def test_x(): pass\n"}, "test_thing.py test file at the top: runs pytest"),
    ({"tests/test_a.py": ""}, "tests test directory: runs pytest"),
    ({"setup.cfg": "[metadata]\nname = x\n\n[tool:pytest]\n"}, "setup.cfg:4 pytest configuration: runs pytest"),
    ({}, None),
], ids=["pytest.ini", "top-level-test-file", "tests-dir", "setup.cfg", "none"])
def test_pytest_runs_when_the_project_shows_tests(tmp_path: Path, files: dict[str, str], tests: str | None) -> None:
    [c] = candidates(write(tmp_path, {"requirements.txt": "requests\n", **files}))
    assert c.facts["tests"] == ("pytest" if tests else "none")
    assert (str(c.evidence[-1]) if c.facts["tests"] == "pytest" else None) == tests
    generated = render(tmp_path)
    assert generated is not None
    assert ("-m pytest" in generated.pipeline) == bool(tests)
    assert ("-m compileall" in generated.pipeline) == (not tests)


def test_a_malformed_pipfile_is_a_near_miss_and_a_warning_on_the_requirements_candidate(tmp_path: Path) -> None:
    tree = Tree(write(tmp_path, {"Pipfile": "[packages]\nrequests = \n", "requirements.txt": "requests\n"}))
    [miss] = DETECTOR.near_misses(tree, ".")
    assert miss.evidence is not None and (miss.evidence.file, miss.evidence.line) == ("Pipfile", 2)
    best, alt = DETECTOR.detect(tree, ".")
    assert (best.build, alt.build) == ("pipenv", "pip")
    assert any(w.startswith("Pipfile:2 is not valid TOML") for w in best.warnings)


def test_a_pyproject_with_only_tool_settings_is_a_near_miss_not_a_project(tmp_path: Path) -> None:
    tree = Tree(write(tmp_path, {"pyproject.toml": "[tool.black]\nline-length = 100\n"}))
    assert DETECTOR.detect(tree, ".") == []
    [miss] = DETECTOR.near_misses(tree, ".")
    assert "no [project], [tool.poetry], [tool.pdm] or [tool.uv] table" in miss.message


def test_a_sphinx_docs_directory_is_not_an_app(tmp_path: Path) -> None:
    tree = Tree(write(tmp_path, {"docs/requirements.txt": "sphinx\n", "docs/conf.py": ""}))
    assert DETECTOR.detect(tree, "docs") == []


def test_an_app_in_a_subdirectory_has_repository_relative_evidence(tmp_path: Path) -> None:
    tree = Tree(write(tmp_path, {"services/api/requirements.txt": "fastapi\nuvicorn\n",
                                 "services/api/main.py": "from fastapi import FastAPI\napp = FastAPI()\n"}))
    [c] = DETECTOR.detect(tree, "services/api")
    assert "services/api/main.py:2 FastAPI( application object" in [str(e) for e in c.evidence]
    assert c.facts["entry"] == "main:app"


def test_requirement_file_names_that_are_unsafe_for_a_script_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, {"requirements.txt": "pytest\n", "requirements/$(touch pwned).txt": "x\n",
                     "requirements/dev.txt": "pytest\n"})
    [c] = candidates(tmp_path)
    assert c.facts["requirements"] == "requirements.txt requirements/dev.txt"
    generated = render(tmp_path)
    assert generated is not None and "pwned" not in generated.pipeline + generated.files["Dockerfile"]


def test_an_application_object_in_a_module_that_is_not_importable_is_not_an_entry(tmp_path: Path) -> None:
    [c] = candidates(write(tmp_path, {"requirements.txt": "fastapi\n",
                                      "my-app/main.py": "from fastapi import FastAPI\napp = FastAPI()\n"}))
    assert c.facts["entry"] == "" and c.confidence == "medium"


def test_a_directory_without_python_manifests_gives_nothing(tmp_path: Path) -> None:
    assert candidates(write(tmp_path, {"main.py": "print('hi')\n", "README.md": "# x\n"})) == []


@pytest.mark.parametrize("pyproject", [
    '[project]\nname = 3\ndependencies = "flask"\noptional-dependencies = []\n',
    'project = "x"\n[tool]\npoetry = 1\n',
    '[tool.poetry]\nname = "x"\n[tool.poetry.dependencies]\nflask = 3\n[tool.poetry.group.dev]\ndependencies = []\n',
    '[project]\nname = "x"\n[dependency-groups]\ndev = [{include-group = "test"}]\ntest = ["pytest"]\n',
    '[project]\nname = "x"\nrequires-python = 3.12\n[tool.pdm.dev-dependencies]\ntest = "pytest"\n',
], ids=["wrong-types", "tables-as-scalars", "poetry-odd-values", "include-group", "non-string-version"])
def test_odd_but_valid_toml_never_raises_and_still_names_the_tool(tmp_path: Path, pyproject: str) -> None:
    found = candidates(write(tmp_path, {"pyproject.toml": pyproject, "requirements.txt": "flask\n"}))
    assert found and found[-1].build == "pip"
    assert render(tmp_path) is not None


def test_setup_cfg_install_requires_declares_the_framework(tmp_path: Path) -> None:
    write(tmp_path, {"setup.py": "from setuptools import setup\nsetup()\n",
                     "setup.cfg": "[metadata]\nname = shop\n\n[options]\ninstall_requires =\n    Flask>=3\n"
                                  "    gunicorn\n",
                     "shop/__init__.py": "from flask import Flask\n\napp = Flask(__name__)\n"})
    [c] = candidates(tmp_path)
    assert (c.build, c.framework, c.facts["entry"]) == ("pip", "flask", "shop:app")
    assert "setup.cfg:6 install_requires Flask>=3" in [str(e) for e in c.evidence]
    assert c.facts["cmd"] == '["gunicorn", "--bind", "0.0.0.0:5000", "shop:app"]'


MANIFEST_TEXT = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(['[project]', '[tool.poetry]', '[tool.poetry.dependencies]', 'python = "^3.9"',
                              'dependencies = ["flask", "django>=5"]', 'requires-python = ">=3.8"', '[packages]',
                              'fastapi = "*"', "flask==3", "-r other.txt", "[tool.pdm]", 'name = "x"', "= 1",
                              '"unclosed', "[requires]", 'python_version = "2.7"']), max_size=8).map("\n".join))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pyproject=MANIFEST_TEXT, pipfile=MANIFEST_TEXT, requirements=MANIFEST_TEXT)
def test_any_manifest_text_gives_candidates_or_near_misses_never_an_exception(
        pyproject: str, pipfile: str, requirements: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = write(Path(directory), {"pyproject.toml": pyproject, "Pipfile": pipfile,
                                       "requirements.txt": requirements})
        tree = Tree(root)
        found = DETECTOR.detect(tree, ".")
        DETECTOR.near_misses(tree, ".")
        assert found, "requirements.txt and Pipfile are always there"
        assert render(root) is not None


def test_django_split_settings_find_the_wsgi_module_in_the_package_above(tmp_path: Path) -> None:
    write(tmp_path, {"requirements/base.txt": "django>=5\ngunicorn\n", "requirements/local.txt": "-r base.txt\n",
                     "manage.py": 'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", '
                                  '"config.settings.local")\n',
                     "config/__init__.py": "", "config/wsgi.py": "", "config/settings/__init__.py": ""})
    [c] = candidates(tmp_path)
    assert c.facts["entry"] == "config.wsgi:application"
    assert c.facts["runtime_requirements"] == "requirements/base.txt"
    assert c.facts["requirements"] == "requirements/base.txt requirements/local.txt"
    assert "manage.py:2 settings module config.settings.local" in [str(e) for e in c.evidence]


def test_a_setup_cfg_of_only_tool_settings_is_not_a_python_project(tmp_path: Path) -> None:
    assert candidates(write(tmp_path, {"setup.cfg": "[flake8]\nmax-line-length = 100\n", "package.json": "{}"})) == []
    [c] = candidates(write(tmp_path, {"setup.cfg": "[flake8]\nx = 1\n\n[metadata]\nname = x\n"}))
    assert [str(e) for e in c.evidence] == ["setup.cfg:4 setuptools configuration"]


def test_django_without_a_settings_module_in_manage_py_still_starts_with_runserver(tmp_path: Path) -> None:
    [c] = candidates(write(tmp_path, {"requirements.txt": "Django\ngunicorn\n", "manage.py": "import sys\n"}))
    assert (c.framework, c.confidence, c.facts["entry"]) == ("django", "high", "")
    assert c.facts["cmd"] == '["python", "manage.py", "runserver", "0.0.0.0:8000"]'
    assert "Django's development server" in c.facts["cmd_note"]


@pytest.mark.parametrize(("files", "confidence"), [
    ({"requirements.txt": "requests\n"}, ["medium"]),
    ({"pyproject.toml": PROJECT, "requirements.txt": ""}, ["medium", "medium"]),
    ({"pyproject.toml": PROJECT, "uv.lock": "", "requirements.txt": ""}, ["high", "medium"]),
    ({"Pipfile": "[packages]\n", "Pipfile.lock": "{}"}, ["high"]),
    ({"requirements.txt": "flask\n", "app.py": "from flask import Flask\napp = Flask(__name__)\n"}, ["high"]),
    ({"requirements.txt": "flask\n"}, ["medium"]),
], ids=["manifest-alone", "two-manifests", "lockfile-backs-uv-only", "pipenv-lock", "confirmed-framework",
        "framework-dependency-only"])
def test_confidence_is_high_only_when_a_lockfile_or_a_confirmed_framework_backs_the_manifest(
        tmp_path: Path, files: dict[str, str], confidence: list[str]) -> None:
    assert [c.confidence for c in candidates(write(tmp_path, files))] == confidence
