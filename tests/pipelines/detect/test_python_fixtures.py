"""The Python detector on the fixture repositories: build tool, framework, port, versions, evidence with real
lines, alternatives in ranking order and the rule that ranked them."""

from __future__ import annotations

from tests.pipelines.detect.python_cases import FIXTURES, candidates
from wishstar.pipelines.detect.evidence import Candidate, Evidence
from wishstar.pipelines.detect.python import DETECTOR
from wishstar.pipelines.detect.tree import Tree


def evidence(c: Candidate) -> list[str]:
    return [str(e) for e in c.evidence]


def test_pip_flask_app_is_found_from_requirements_and_flask_name_with_the_run_port() -> None:
    [c] = candidates("python-pip-flask")
    assert (c.language, c.build, c.framework, c.confidence) == ("python", "pip", "flask", "high")
    assert c.port is not None and c.port.value == "8080"
    assert c.port.evidence == Evidence("app.py", 14, "run(port=8080)")
    assert evidence(c)[:3] == ["requirements.txt pip requirements file",
                               "requirements.txt:2 requirement Flask>=3.0,<4",
                               "app.py:5 Flask(__name__) application object"]
    assert "requirements-dev.txt:2 requirement pytest>=8: runs pytest" in evidence(c)
    assert c.facts["entry"] == "app:app"
    assert c.facts["requirements"] == "requirements.txt requirements-dev.txt"
    assert c.facts["runtime_requirements"] == "requirements.txt"
    assert c.facts["cmd"] == '["gunicorn", "--bind", "0.0.0.0:8080", "app:app"]'
    assert c.versions["python"].is_default and c.versions["python"].value == "3.13"
    assert c.rule is None


def test_pyproject_beats_requirements_txt_and_both_evidences_are_shown() -> None:
    best, alt = candidates("python-requirements-and-pyproject")
    assert (best.build, alt.build) == ("pyproject", "pip")
    assert best.rule is not None and best.rule.startswith("Python: [project] beats requirements.txt")
    assert "pyproject.toml:5 [project] table" in evidence(best)
    assert "requirements.txt pip requirements file" in evidence(alt)
    assert best.framework is None and best.port is None
    assert best.versions["python"].value == "3.13"
    assert str(best.versions["python"].evidence) == "pyproject.toml:9 requires-python >=3.12"
    assert best.facts["extras"] == "dev" and best.facts["install"] == "yes"
    assert best.facts["cmd"] == '["python", "-m", "wordcount"]'


def test_uv_lock_beats_the_exported_requirements_txt() -> None:
    best, alt = candidates("python-uv-and-requirements")
    assert (best.build, alt.build) == ("uv", "pip")
    assert best.rule is not None and best.rule.startswith("Python: uv.lock beats requirements.txt")
    assert evidence(best)[:3] == ["uv.lock uv lockfile", "pyproject.toml:13 [tool.uv] table",
                                  "pyproject.toml:1 [project] table"]
    assert "app/main.py:3 FastAPI( application object" in evidence(best)
    assert best.framework == "fastapi" and best.facts["entry"] == "app.main:app"
    assert best.port is not None and best.port.value == "8000" and best.port.is_default
    assert best.versions["python"].value == "3.12"
    assert str(best.versions["python"].evidence) == ".python-version:1 .python-version 3.12"
    assert best.facts["lock"] == "yes" and best.facts["manifests"] == "pyproject.toml uv.lock"
    assert "pyproject.toml:11 dependency pytest>=8: runs pytest" in evidence(best)


def test_poetry_django_takes_the_settings_module_and_the_procfile_bind_port() -> None:
    [c] = candidates("python-poetry-django")
    assert (c.build, c.framework, c.confidence) == ("poetry", "django", "high")
    assert evidence(c)[:5] == ["poetry.lock Poetry lockfile", "pyproject.toml:1 [tool.poetry] table",
                               "pyproject.toml:10 dependency Django", "manage.py Django management script",
                               "manage.py:9 settings module mysite.settings"]
    assert c.port is not None and str(c.port.evidence) == "Procfile:2 command --bind 0.0.0.0:8001"
    assert c.versions["python"].value == "3.12"
    assert str(c.versions["python"].evidence) == "pyproject.toml:9 [tool.poetry.dependencies] python ^3.12"
    assert c.facts["entry"] == "mysite.wsgi:application"
    assert c.facts["cmd"] == '["gunicorn", "--bind", "0.0.0.0:8001", "mysite.wsgi:application"]'


def test_fastapi_in_a_src_layout_is_found_with_its_annotated_app_and_uvicorn_run_port() -> None:
    [c] = candidates("python-fastapi-src-layout")
    assert (c.build, c.framework) == ("pyproject", "fastapi")
    assert "src/shop_api/main.py:4 FastAPI( application object" in evidence(c)
    assert c.facts["entry"] == "shop_api.main:api" and c.facts["pythonpath"] == "src"
    assert c.port is not None and str(c.port.evidence) == "src/shop_api/main.py:13 run(port=9000)"
    # fastapi[standard] brings uvicorn, so uvicorn is the server even though it is not named
    assert c.facts["cmd"] == '["uvicorn", "--host", "0.0.0.0", "--port", "9000", "shop_api.main:api"]'
    assert str(c.evidence[-1]) == "pyproject.toml:12 dependency pytest: runs pytest"


def test_a_malformed_pyproject_is_a_near_miss_with_the_line_tomllib_reports() -> None:
    tree = Tree(FIXTURES / "python-bad-pyproject")
    assert DETECTOR.detect(tree, ".") == []
    [miss] = DETECTOR.near_misses(tree, ".")
    assert miss.evidence == Evidence("pyproject.toml", 7, "invalid TOML")
    assert miss.message.startswith("pyproject.toml:7 is not valid TOML (Unclosed array)")
    assert "hint:" in miss.message


def test_pdm_flask_factory_uses_create_app_and_the_pdm_script_port() -> None:
    [c] = candidates("python-pdm-flask-factory")
    assert (c.build, c.framework) == ("pdm", "flask")
    assert "app/__init__.py:4 Flask application factory create_app()" in evidence(c)
    assert c.facts["entry"] == "app:create_app()"
    assert c.port is not None and str(c.port.evidence) == "pyproject.toml:17 command --port 5050"
    assert "pyproject.toml:14 dependency pytest>=8: runs pytest" in evidence(c)


def test_an_end_of_life_pipfile_python_gets_the_oldest_supported_release_and_a_warning() -> None:
    [c] = candidates("python-pipenv-eol")
    assert c.build == "pipenv" and evidence(c) == ["Pipfile.lock pipenv lockfile", "Pipfile pipenv manifest"]
    assert c.versions["python"].value == "3.11"
    assert str(c.versions["python"].evidence) == "Pipfile:14 [requires] python_version 3.8"
    assert any("end-of-life" in w for w in c.warnings)
    assert c.facts["tests"] == "none" and c.port is None
    assert c.facts["cmd"] == '["python", "main.py"]'


def test_django_from_the_dependency_alone_is_medium_confidence_with_a_warning() -> None:
    [c] = candidates("python-django-dependency-only")
    assert (c.build, c.framework, c.confidence) == ("pip", "django", "medium")
    assert c.port is not None and c.port.value == "8000" and c.port.is_default
    assert any("no application was found" in w for w in c.warnings)
    assert evidence(c) == ["requirements.txt pip requirements file",
                           "requirements.txt:1 requirement django==5.1.4"]


def test_setup_py_cli_is_installable_with_no_port_and_runs_its_package() -> None:
    [c] = candidates("python-setup-py-cli")
    assert (c.build, c.framework, c.port) == ("pip", None, None)
    assert c.facts["install"] == "yes" and c.facts["tests"] == "none"
    assert c.facts["cmd"] == '["python", "-m", "greet"]'


def test_the_pytest_fixtures_are_plain_pip_projects_that_run_pytest() -> None:
    for case in ("python-pytest-passing", "python-pytest-failing"):
        [c] = candidates(case)
        assert (c.build, c.facts["tests"], c.port) == ("pip", "pytest", None)
        assert "requirements.txt:1 requirement pytest>=8: runs pytest" in evidence(c)


def test_real_lockfiles_name_their_build_tool_and_the_dev_group_pytest() -> None:
    expected = {"uv": ("uv.lock uv lockfile", "pyproject.toml:8 dependency pytest>=8"),
                "poetry": ("poetry.lock Poetry lockfile", "pyproject.toml:12 dependency pytest"),
                "pdm": ("pdm.lock pdm lockfile", "pyproject.toml:11 dependency pytest>=8"),
                "pipenv": ("Pipfile.lock pipenv lockfile", "Pipfile:9 [dev-packages] pytest")}
    for tool, (lock, pytest_line) in expected.items():
        [c] = candidates(f"python-{tool}-pytest")
        assert (c.build, c.facts["lock"], c.facts["tests"]) == (tool, "yes", "pytest")
        assert str(c.evidence[0]) == lock
        assert str(c.evidence[-1]) == f"{pytest_line}: runs pytest"
