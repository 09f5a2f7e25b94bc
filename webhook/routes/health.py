"""``/healthz``: is this replica able to take deliveries (its database answers)?

Why: load balancers and Kubernetes probes must stop sending hooks to a replica that cannot store them. Must
stay cheap (one trivial query) and must not report details of the failure to the caller.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from wishstar.webhook.deps import StoreDep

router = APIRouter(tags=["health"])


@router.get("/healthz", responses={503: {"description": "the database does not answer"}})
def healthz(store: StoreDep) -> JSONResponse:
    if not store.ping():
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})
