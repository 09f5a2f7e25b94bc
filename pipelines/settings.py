"""Wishstar's settings: environment variables with the ``WISHSTAR_`` prefix, then defaults.

A cached getter, never a module-level instance, so tests and commands can override values before first use.
"""

from __future__ import annotations

import os
import re
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from wishstar.engine.compiler.names import namespace_message
from wishstar.engine.spec.errors import WishstarError

_HTTP_URL = re.compile(r"https?://[^/\s]+")


class SettingsError(WishstarError):
    """A ``WISHSTAR_*`` variable or a settings-file value is not valid."""


class CatalogSetting(BaseModel):
    """One entry of ``catalogs`` written as a table: a git URL (or directory) with a ref and a subdirectory."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, description="git URL (https://, ssh://, file://, git@host:path) or directory")
    ref: str | None = Field(default=None, description="branch, tag or commit (default: the remote's HEAD)")
    path: str | None = Field(default=None, description="the tasks' directory inside the repository")


def _default_state_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "wishstar"


class Settings(BaseSettings):
    """Where state lives and how runs behave; every field can be set as ``WISHSTAR_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="WISHSTAR_", extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Init values, then ``WISHSTAR_*`` variables, then the settings file (``WISHSTAR_SETTINGS_FILE``, TOML)."""
        path = os.environ.get("WISHSTAR_SETTINGS_FILE")
        if not path:
            return (init_settings, env_settings)
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=path))

    state_dir: Path = Field(default_factory=_default_state_dir, description="runs, logs, workspaces, SQLite")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in state_dir")
    concurrency: int | None = Field(default=None, ge=1, description="tasks at once (default: CPU count)")
    log_limit_bytes: int = Field(default=50 * 1024 * 1024, ge=1024, description="cap per step log")
    default_image: str = Field(default="docker.io/library/debian:bookworm-slim",
                               description="image for inline tasks that name none (Kubernetes)")
    keep_workspaces: int = Field(default=20, ge=0, description="run working directories kept on disk")
    catalogs: list[str | CatalogSetting] = Field(
        default_factory=list, description="extra task catalogs searched before the built-in tasks, in order: "
                                          "directories, git URLs (URL#REF) or {url, ref, path} tables")
    # -- the server (wishstar serve) --
    gitlab_url: str | None = Field(default=None, description="GitLab base URL, e.g. https://gitlab.example.com")
    gitlab_token: str | None = Field(default=None, repr=False,
                                     description="API token for statuses and hooks (projects may have their own)")
    public_url: str = Field(default="http://127.0.0.1:8080", description="base URL of run pages in statuses")
    executor: Literal["local", "kubernetes", "podman", "docker", "container"] = Field(
        default="local", description="where server runs execute: local, kubernetes, or podman, docker, container "
                                     "(each step in its image on this machine)")
    namespace: str = Field(default="default", description="Kubernetes namespace for runs")
    # -- the container executor (--executor podman|docker|container) --
    container_network: str = Field(default="host", description="network of step containers: host (steps reach "
                                                               "this machine's services, as local steps do), or "
                                                               "a podman/docker network name; empty: the CLI's "
                                                               "default")
    container_insecure_registries: str = Field(
        default="", description="comma-separated host:port of registries podman pulls step images from over "
                                "plain http (docker: dockerd's own --insecure-registry)")
    kubeconfig: str | None = Field(default=None, description="kubeconfig file for the kubernetes executor "
                                                             "(default: $KUBECONFIG, ~/.kube/config, in-cluster)")
    kube_qps: float = Field(default=50.0, gt=0, description="Kubernetes API requests per second, sustained "
                                                               "(client-side token bucket)")
    kube_burst: int = Field(default=100, ge=1, description="Kubernetes API requests allowed at once above kube_qps")
    storage_class: str | None = Field(default=None, description="StorageClass of the claim per run and pipeline "
                                                                "workspace (default: the cluster's default)")
    workspace_size: str = Field(default="1Gi", pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$",
                                description="size of each workspace claim")
    insecure_registries: str = Field(default="", description="registry hosts (host:port, comma-separated) "
                                     "spoken to over plain HTTP when looking up image entrypoints; loopback "
                                     "registries always are")
    registry_auth_file: Path | None = Field(default=None, description="docker config file with registry "
                                            "credentials (auths) for image entrypoint lookups (default "
                                            "$DOCKER_CONFIG/config.json, ~/.docker/config.json)")
    workers: int = Field(default=2, ge=0, description="runs a replica drives at once (0: receive only)")
    lease_seconds: float = Field(default=15.0, gt=0, description="a replica's claim on an event or run")
    replica_id: str | None = Field(default=None, description="this replica's name (default host:pid)")
    command_users: str | None = Field(default=None,
                                      description="comma-separated GitLab usernames allowed to run /wishstar "
                                                  "run|retry on merge requests (unset: anyone who can comment)")
    max_body_bytes: int = Field(default=25 * 1024 * 1024, ge=1024, description="largest webhook body (GitLab: 25 MB)")
    api_read: Literal["token", "open"] = Field(
        default="token", description="reading runs, logs and events over the API: token (a token with the read "
                                     "scope) or open (anyone who reaches the server); changes always need a token")
    token_expiry_days: int = Field(default=90, ge=1, le=3650,
                                   description="lifetime of a new API token (wishstar tokens create --expires wins)")

    @field_validator("gitlab_url", "public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not _HTTP_URL.match(value):  # empty: unset
            raise ValueError("not an http(s) URL (e.g. https://gitlab.example.com)")
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        message = namespace_message(value)
        if message is not None:
            raise ValueError(message)
        return value


def load_settings() -> Settings:
    """``Settings()``, with every invalid value reported at once as a ``SettingsError`` (no stack trace): the
    variable or settings-file key, the value and what is wrong."""
    _check_settings_file()
    try:
        return Settings()
    except tomllib.TOMLDecodeError as exc:  # the message gives line and column, never the file's values
        raise SettingsError(f"WISHSTAR_SETTINGS_FILE={os.environ.get('WISHSTAR_SETTINGS_FILE')}: not valid TOML "
                            f"({exc}) (hint: docs/settings.md shows an example)") from None
    except ValidationError as exc:
        source = os.environ.get("WISHSTAR_SETTINGS_FILE")
        lines = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            variable = f"WISHSTAR_{field.upper()}"
            where = f"`{field}` in {source} " if source and variable not in os.environ else variable
            known = Settings.model_fields.get(str(error["loc"][0])) if error["loc"] else None
            shown = "(hidden)" if known is not None and known.repr is False else repr(error.get("input"))
            lines.append(f"{where}={shown}: {error['msg'].removeprefix('Value error, ')}")
        raise SettingsError("invalid settings: " + "; ".join(lines) +
                            " (hint: docs/settings.md lists the settings and their values)") from None


def _check_settings_file() -> None:
    """A ``WISHSTAR_SETTINGS_FILE`` that is not a readable file is an error, not silently no settings."""
    path = os.environ.get("WISHSTAR_SETTINGS_FILE")
    if not path:
        return
    if not Path(path).is_file():
        what = "a directory, not a file" if Path(path).is_dir() else "no such file"
        raise SettingsError(f"WISHSTAR_SETTINGS_FILE={path}: {what} (hint: a TOML file of settings, "
                            "see docs/settings.md; unset the variable to use none)")
    try:
        Path(path).open("rb").close()
    except OSError as exc:
        raise SettingsError(f"WISHSTAR_SETTINGS_FILE={path}: cannot read it ({exc.strerror or exc})") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
