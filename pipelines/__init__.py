"""Pipelines as users have them: reading a repository's pipeline file, validating it against the task library,
compiling it for a run; later, language detection and generated pipelines for repositories without a file."""
