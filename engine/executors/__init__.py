"""Executors run resolved tasks somewhere: ``local`` (process groups on this machine), ``fake`` (scripted
outcomes for scheduler and runner tests) and, later, ``kubernetes``. See ``base`` for the contract."""
