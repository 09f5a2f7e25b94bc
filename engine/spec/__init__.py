"""The pipeline file and the Tekton Task schema as data: models, YAML loading with line numbers, validation.

Pure: no I/O beyond parsing text handed in, no clock, no environment. Callers read files and pass their text.
"""
