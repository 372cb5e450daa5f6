"""The police liaison machine API, ``/api/police/v1`` (OAuth2 client credentials).

See docs/police-api.md for the integration guide and docs/police-openapi.json for the
contract.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.police import evidence, oauth, orders, queries, subscriptions, trail

router = APIRouter()
for _r in (
    oauth.router,
    queries.router,
    evidence.router,
    subscriptions.router,
    orders.router,
    orders.photo_router,
    trail.router,
):
    router.include_router(_r)

__all__ = ["router"]
