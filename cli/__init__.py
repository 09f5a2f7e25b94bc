"""The ``wishstar`` command line (typer + rich). It composes the layers below; it decides nothing itself."""
