"""Packaging glue that pyproject.toml cannot express: the top-level folders (``engine/``, ``cli/``, ...) are
installed under one ``wishstar`` namespace (``wishstar.engine``, ``wishstar.cli``, ...), so nothing generic
lands at the top of site-packages. ``wishstar`` itself is a namespace package (no ``__init__.py``). Everything
else (metadata, dependencies, package data) is in pyproject.toml."""

from setuptools import find_packages, setup

FOLDERS = ["cli", "engine", "pipelines", "tasks", "steps", "webhook"]

setup(
    packages=[f"wishstar.{name}" for name in find_packages(include=[*FOLDERS, *(f"{f}.*" for f in FOLDERS)])],
    package_dir={f"wishstar.{folder}": folder for folder in FOLDERS},
)
