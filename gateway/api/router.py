"""All HTTP routes of the gateway, in one aggregator."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.api import console as console_api
from gateway.api import events, fhir_push, health, hl7, jwks, reidentify, x12
from gateway.api import metrics as metrics_api
from gateway.api import oauth as oauth_api
from gateway.api import reports as reports_api
from gateway.api import saml as saml_api
from gateway.api import security as security_api
from gateway.api import spool as spool_api
from gateway.api import sync as sync_api
from gateway.api import tickets as tickets_api

api_router = APIRouter()
api_router.include_router(health.router)
api_router.include_router(events.router)
api_router.include_router(hl7.router)
api_router.include_router(jwks.router)
api_router.include_router(fhir_push.router)
api_router.include_router(security_api.router)
api_router.include_router(saml_api.router)
api_router.include_router(reidentify.router)
api_router.include_router(tickets_api.router)
api_router.include_router(spool_api.router)
api_router.include_router(x12.router)
api_router.include_router(oauth_api.router)
api_router.include_router(metrics_api.router)
api_router.include_router(console_api.router)
api_router.include_router(sync_api.router)
api_router.include_router(reports_api.router)
