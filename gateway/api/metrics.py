"""``GET /metrics``: Prometheus text format (`gateway.metrics`; names in docs/metrics.md).

Needs the ``metrics:read`` scope, except from the addresses in
``metrics.unauthenticated_networks`` (empty by default), which may scrape without a token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials

from gateway.auth.deps import ScopeRequirement, _bearer
from gateway.auth.scopes import Scope
from gateway.auth.tokens import Principal
from gateway.metrics import CONTENT_TYPE
from gateway.runtime import Runtime

router = APIRouter(tags=["metrics"])


class MetricsScrapeRequirement(ScopeRequirement):
    """``metrics:read``, or a client address inside ``metrics.unauthenticated_networks``."""

    def __init__(self) -> None:
        super().__init__(Scope.METRICS_READ)

    async def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        runtime: Runtime = request.app.state.runtime
        host = request.client.host if request.client is not None else None
        if credentials is None and runtime.settings.metrics.allows(host):
            return Principal(subject=f"network:{host}", client_id="metrics-network", scopes=frozenset())
        return await super().__call__(request, credentials)


MetricsReader = Annotated[Principal, Depends(MetricsScrapeRequirement())]


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"},
        401: {"description": "No valid token"},
        403: {"description": "Missing scope metrics:read"},
    },
)
async def get_metrics(request: Request, principal: MetricsReader) -> Response:
    """Every metric, with spool depth, oldest ages and circuit states read now."""
    runtime: Runtime = request.app.state.runtime
    await runtime.metrics.refresh(runtime.spool, runtime.workers)
    return Response(content=runtime.metrics.exposition(), media_type=CONTENT_TYPE)
