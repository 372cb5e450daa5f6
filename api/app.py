"""The web service: one FastAPI application built by :func:`create_app`.

Routers by audience, each in its own folder, included from :data:`ROUTERS` — add yours
with one line:

* ``api/rest/`` - the operator JSON API (``/api/...``), session cookie + CSRF;
* ``api/dashboard/`` - operator pages and server-sent events (HTML);
* ``api/police/`` - the police liaison machine API (OAuth2);
* ``api/live/`` - the live view (WebRTC).

Only ``/healthz`` answers without authentication (and, by their nature, the police
token endpoint, which authenticates the client itself, and ``/.well-known/jwks.json``,
the public keys); ``/metrics`` wants the bearer
``SHOUWANG_METRICS_TOKEN`` or a logged-in supervisor or admin; ``/openapi.json`` (the
contract) any logged-in user. There are no Swagger pages (they load from a CDN).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import redis
from fastapi import APIRouter, FastAPI, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import dashboard, gat1400, police, rest
from api.deps import SESSION_COOKIE, CurrentUser, errors
from api.live.routes import router as live_router
from api.services import Services
from api.settings import Settings

#: Every router of the service, by audience. One line per router.
ROUTERS: list[APIRouter] = [
    rest.router,
    dashboard.router,
    police.router,
    gat1400.router,
    live_router,
]


class HealthOut(BaseModel):
    """Whether the service and what it needs answer."""

    status: Literal["ok", "degraded"]
    database: str = Field(description="'ok' or what is wrong")
    redis: str = Field(description="'ok' or what is wrong")
    consumer: str = Field(description="store consumer: running, waiting for the database, off")


def _metrics(registry: CollectorRegistry, svc: Services) -> tuple[Counter, Histogram]:
    requests = Counter(
        "shouwang_http_requests",
        "HTTP requests",
        ["method", "route", "status"],
        registry=registry,
    )
    latency = Histogram(
        "shouwang_http_request_seconds", "HTTP request latency", ["route"], registry=registry
    )
    stored = Gauge("shouwang_store_updates_stored", "alert updates stored", registry=registry)
    reads = Gauge("shouwang_store_reads_stored", "plate reads stored", registry=registry)
    dead = Gauge("shouwang_store_dead_letters", "entries dead-lettered", registry=registry)
    waiting = Gauge(
        "shouwang_store_waiting_for_db", "1 while the database is unreachable", registry=registry
    )
    c = svc.consumer
    stored.set_function(lambda: c.stats.stored_updates if c else 0)
    reads.set_function(lambda: c.stats.stored_reads if c else 0)
    dead.set_function(lambda: c.stats.dead_letters if c else 0)
    waiting.set_function(lambda: 1 if c and c.stats.waiting_for_db else 0)
    return requests, latency


class RequestMetrics:
    """Counts every HTTP request by method, route and status, and times it to its last byte.

    A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` (``@app.middleware``) runs
    each request through a task group and memory streams, which cost about a tenth of
    the server's CPU per police API call under load.
    """

    def __init__(self, app: ASGIApp, *, requests: Counter, latency: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        code = 500  # an exception before any answer: the server error handler's 500

        async def sending(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            self.requests.labels(scope["method"], path, str(code)).inc()
            self.latency.labels(path).observe(time.perf_counter() - t0)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The application for ``settings`` (from the environment when None).

    Nothing global: the database, Redis and background threads belong to this app, so
    a test runs one on its own database and Redis database.
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services.start()
        try:
            yield
        finally:
            await app.state.services.aclose()
            app.state.services.close()

    app = FastAPI(
        title="Shouwang security centre",
        version="1",
        description="Incidents, vehicle access log, evidence, cameras, users and audit.",
        lifespan=lifespan,
        # No Swagger/ReDoc pages: they load scripts from a CDN. The contract itself is
        # served below, to logged-in users only.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    svc = Services(settings)
    app.state.services = svc
    registry = CollectorRegistry()
    requests, latency = _metrics(registry, svc)

    app.add_middleware(RequestMetrics, requests=requests, latency=latency)

    @app.get("/healthz", response_model=HealthOut, responses={503: {"model": HealthOut}})
    def healthz() -> HealthOut | JSONResponse:
        """200 when the database and Redis answer, 503 saying which does not."""
        db = rd = "ok"
        try:
            with svc.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            db = f"unreachable: {exc.__class__.__name__}"
        try:
            svc.redis.ping()
        except (redis.RedisError, OSError) as exc:
            rd = f"unreachable: {exc.__class__.__name__}"
        cons = "off"
        if svc.consumer is not None:
            cons = "waiting for the database" if svc.consumer.stats.waiting_for_db else "running"
        out = HealthOut(
            status="ok" if db == rd == "ok" else "degraded", database=db, redis=rd, consumer=cons
        )
        if out.status != "ok":
            return JSONResponse(out.model_dump(), status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
        return out

    @app.get(
        "/metrics",
        response_class=Response,
        responses={
            200: {"content": {"text/plain": {}}, "description": "Prometheus text format"},
            **errors(401, 403),
        },
    )
    def metrics(request: Request) -> Response:
        """Prometheus metrics: bearer SHOUWANG_METRICS_TOKEN, or a supervisor/admin session."""
        _metrics_auth(request, svc)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(user: CurrentUser) -> JSONResponse:
        """The OpenAPI contract of every route (any logged-in user)."""
        return JSONResponse(app.openapi())

    for r in ROUTERS:
        app.include_router(r)
    return app


def _metrics_auth(request: Request, svc: Services) -> None:
    token = svc.settings.metrics_token
    given = request.headers.get("authorization", "")
    if token is not None and given.startswith("Bearer "):
        if hmac.compare_digest(given[7:], token.get_secret_value()):
            return
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong metrics bearer token")
    from alerts.store.users import session_user

    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "send 'Authorization: Bearer <SHOUWANG_METRICS_TOKEN>' or log in as a supervisor",
        )
    with svc.tx() as s:
        user = session_user(s, cookie)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "your session has ended; log in again")
    if user.role not in ("supervisor", "admin"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "metrics are for supervisors and admins")
