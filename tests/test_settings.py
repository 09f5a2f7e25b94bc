"""Settings: WISHSTAR_* variables and the TOML settings file, and how an invalid value is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Cli, cli  # noqa: F401  (the fixture)
from wishstar.pipelines.settings import SettingsError, load_settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for name in [n for n in os.environ if n.startswith("WISHSTAR_")]:
        monkeypatch.delenv(name)
    return monkeypatch


def test_kubernetes_client_and_workspace_settings_come_from_variables(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("WISHSTAR_KUBE_QPS", "20")
    clean_env.setenv("WISHSTAR_KUBE_BURST", "30")
    clean_env.setenv("WISHSTAR_STORAGE_CLASS", "fast-ssd")
    clean_env.setenv("WISHSTAR_WORKSPACE_SIZE", "5Gi")
    cfg = load_settings()
    assert (cfg.kube_qps, cfg.kube_burst, cfg.storage_class, cfg.workspace_size) == (20.0, 30, "fast-ssd", "5Gi")


def test_a_variable_wins_over_the_settings_file(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "wishstar.toml"
    path.write_text('namespace = "ci"\nworkspace_size = "2Gi"\n')
    clean_env.setenv("WISHSTAR_SETTINGS_FILE", str(path))
    clean_env.setenv("WISHSTAR_WORKSPACE_SIZE", "3Gi")
    cfg = load_settings()
    assert (cfg.namespace, cfg.workspace_size) == ("ci", "3Gi")


def test_every_invalid_value_is_named_at_once_and_a_token_is_never_shown(clean_env: pytest.MonkeyPatch,
                                                                         tmp_path: Path) -> None:
    path = tmp_path / "wishstar.toml"
    path.write_text("gitlab_token = 123456789\n")
    clean_env.setenv("WISHSTAR_SETTINGS_FILE", str(path))
    clean_env.setenv("WISHSTAR_KUBE_QPS", "0")
    clean_env.setenv("WISHSTAR_WORKSPACE_SIZE", "lots")
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert "WISHSTAR_KUBE_QPS='0'" in message and "WISHSTAR_WORKSPACE_SIZE='lots'" in message, message
    assert f"`gitlab_token` in {path} =(hidden)" in message and "123456789" not in message, message


def test_the_cli_reports_an_invalid_setting_without_a_stack_trace(cli: Cli) -> None:  # noqa: F811
    result = cli("runs", "list", env={"WISHSTAR_CONCURRENCY": "0"})
    assert result.code != 0
    assert "WISHSTAR_CONCURRENCY='0'" in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_every_setting_is_documented() -> None:
    from wishstar.pipelines.settings import Settings

    text = (Path(__file__).resolve().parents[1] / "docs" / "settings.md").read_text()
    missing = [name for name in Settings.model_fields if f"`WISHSTAR_{name.upper()}`" not in text]
    assert missing == [], f"docs/settings.md does not list: {missing}"
