"""The audit log: refused requests and API tokens created or revoked, as one JSON object per line.

Why: an operator must be able to tell who tried what from where (``who``: the token's name, or the operator
for the CLI; ``what``: the method and route, or the action; ``from``: the client address) without reading
code. Records go to the ``wishstar.audit`` logger; each carries the same fields as ``record.audit``.
Must never receive a token or a secret: callers pass names only, and the fields are fixed here.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

log = logging.getLogger("wishstar.audit")


def audit(event: str, *, who: str | None, what: str, source: str | None, level: int = logging.WARNING,
          **details: Any) -> None:
    """Log one audit event (``request_refused``, ``token_created``, ``token_revoked``)."""
    fields = {"event": event, "who": who, "what": what, "from": source, **details}
    log.log(level, json.dumps(fields, sort_keys=False, default=str), extra={"audit": fields})


def ensure_handler() -> None:
    """Send audit records to stderr when nothing else receives them (``wishstar serve``, ``wishstar tokens``):
    without a handler, Python drops INFO records."""
    if log.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("audit %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
