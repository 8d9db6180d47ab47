"""All HTTP routes of the gateway, in one aggregator."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.api import events, health
from gateway.api import spool as spool_api
from gateway.api import tickets as tickets_api

api_router = APIRouter()
api_router.include_router(health.router)
api_router.include_router(events.router)
api_router.include_router(tickets_api.router)
api_router.include_router(spool_api.router)
