"""Wishstar's engine: the pipeline spec, the DAG, the compiler, the scheduler, the executors and the store.

Layers (enforced by import-linter, see pyproject.toml): ``runner`` drives ``executors``, ``store`` and
``scheduler``; those build on ``compiler``, which builds on ``dag``, which builds on ``spec``. Only the
executors, the store and the runner touch the outside world (processes, files, databases, the clock).
"""
