"""The CLI fixtures of tests/cli (the real ``wishstar`` process, real git repositories) for the library tests."""

from tests.cli.conftest import cli, make_repo

__all__ = ["cli", "make_repo"]
