"""From a validated pipeline plus a run context to a plan: the graph and, per task, its exact Pod manifest.

Pure: ``compile_pipeline(spec, library, context)`` has no I/O, no clock and no environment; identical inputs give
byte-identical output. Run ids, timestamps and secret names arrive in the context.
"""
