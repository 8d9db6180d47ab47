"""All HTTP routes of the gateway, in one aggregator."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.api import events, health, x12

api_router = APIRouter()
api_router.include_router(health.router)
api_router.include_router(events.router)
api_router.include_router(x12.router)
