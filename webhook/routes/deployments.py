"""``/api/.../deployments``: what is deployed where, over HTTP, in the shape of ``wishstar deployments --output
json``.

Why: "which digest runs in prod" is asked by people and tools without a shell on the server, and must be an
indexed query of the store, never a list of Helm's release secrets. Routes: a project's current releases
(or one release's history), where a digest is deployed (or the latest deployments), and what one run
deployed. Each calls the same ``engine.store.deployments`` function as the CLI. Access is
``webhook.access``'s (the ``read`` scope on the project); a caller limited to some projects sees only
theirs. Must not write anything.
"""

from __future__ import annotations

from typing import Annotated, Any, get_type_hints

from fastapi import APIRouter, HTTPException, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, create_model

from wishstar.engine.store.deployments import HISTORY_LIMIT, Deployment, Deployments, deployment_dict
from wishstar.webhook.auth import AccessDep
from wishstar.webhook.deps import StoreDep

router = APIRouter(tags=["deployments"])

Limit = Annotated[int, Query(ge=1, le=1000, description="at most this many, newest first")]


_FIELDS: dict[str, Any] = {name: (str | None if name == "deployed_at" else hint, ...)  # deployed_at: ISO-8601
                           for name, hint in get_type_hints(Deployment).items()}
DeploymentOut: type[BaseModel] = create_model(
    "DeploymentOut", __doc__="One recorded Helm revision (``wishstar deployments --output json``).", **_FIELDS)
"""The JSON shape, field for field the record's (``engine.store.deployments.deployment_dict``)."""


@router.get("/api/projects/{project:path}/deployments", response_model=list[DeploymentOut])
def project_deployments(
    store: StoreDep, access: AccessDep,
    project: Annotated[str, PathParam(description="the project's path, e.g. group/app (a `wishstar run`'s: its "
                                                  "pipeline name)")],
    namespace: str | None = None,
    release: str | None = None,
    history: Annotated[bool, Query(description="every recorded revision of --release, newest first")] = False,
    limit: Limit = HISTORY_LIMIT,
) -> list[dict[str, Any]]:
    """What is deployed for the project: the last recorded revision of each release (filtered by namespace
    and release); with ``history``, every revision of one release, newest first."""
    found = Deployments(store)
    if history:
        if release is None:
            raise HTTPException(400, "history needs release=NAME (the release whose revisions to list)")
        rows = found.history(release, namespace=namespace, project=project, projects=access.projects, limit=limit)
    else:
        rows = found.current(project, namespace=namespace, release=release, projects=access.projects)
    return [deployment_dict(r) for r in rows]


@router.get("/api/deployments", response_model=list[DeploymentOut])
def find_deployments(
    store: StoreDep, access: AccessDep,
    digest: Annotated[str | None, Query(description="where this image digest (sha256:...) was deployed")] = None,
    limit: Limit = HISTORY_LIMIT,
) -> list[dict[str, Any]]:
    """Where an image digest was deployed, newest first, each marked ``current`` when its release still runs
    it; without ``digest``, the latest deployments (of the projects the caller sees)."""
    found = Deployments(store)
    rows = (found.where(digest, projects=access.projects, limit=limit) if digest is not None
            else found.recent(projects=access.projects, limit=limit))
    return [deployment_dict(r) for r in rows]


@router.get("/api/runs/{ref}/deployments", response_model=list[DeploymentOut])
def run_deployments(store: StoreDep, ref: str) -> list[dict[str, Any]]:
    """What one run deployed (``wishstar runs show``)."""
    return [deployment_dict(d) for d in Deployments(store).of_run(store.resolve(ref))]
