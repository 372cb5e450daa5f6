"""The operator dashboard (``/ui/...``): server-rendered pages, htmx, server-sent events.

Pages: the alarm desk (landing page), site plan, cameras, search, lists; login and
logout. Front-end libraries (htmx 2, Leaflet) come from ``node_modules`` (installed by
``scripts/setup`` from package-lock.json) and are served under ``/ui/vendor/``; nothing
loads from a CDN. Every page needs a session (303 to the login form otherwise); every
form post sits behind the CSRF double-submit check, which the page's script fills in.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import FileResponse

from api.dashboard import desk, lists, pages, search, stream
from api.dashboard.common import HERE
from api.deps import csrf_protect

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "node_modules"

#: The only files served from node_modules: what the pages load.
VENDOR: dict[str, str] = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
    "leaflet.js": "leaflet/dist/leaflet.js",
    "leaflet.css": "leaflet/dist/leaflet.css",
    "images/marker-icon.png": "leaflet/dist/images/marker-icon.png",
    "images/marker-icon-2x.png": "leaflet/dist/images/marker-icon-2x.png",
    "images/marker-shadow.png": "leaflet/dist/images/marker-shadow.png",
    "images/layers.png": "leaflet/dist/images/layers.png",
}
STATIC = {"app.js", "app.css", "plan.js"}
_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}

_assets = APIRouter(include_in_schema=False)


@_assets.get("/ui/vendor/{name:path}")
def vendor(name: str) -> FileResponse:
    """A front-end library file from node_modules (allow-listed)."""
    rel = VENDOR.get(name)
    path = NODE_MODULES / rel if rel else None
    if path is None or not path.is_file():
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"no front-end file {name!r}; run `bash scripts/setup` (npm ci) to install them",
        )
    return FileResponse(path, media_type=_TYPES.get(path.suffix, "application/octet-stream"))


@_assets.get("/ui/static/{name}")
def static(name: str) -> FileResponse:
    """The dashboard's own script and style."""
    if name not in STATIC:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no static file {name!r}")
    path = HERE / "static" / name
    return FileResponse(path, media_type=_TYPES.get(path.suffix, "application/octet-stream"))


# Pages for people, not a machine contract: they stay out of /openapi.json (whose routes
# the JSON API's schema tests hold to their declared answers).
router = APIRouter(include_in_schema=False)
router.include_router(_assets)
router.include_router(pages.public, include_in_schema=False)
_protected = APIRouter(dependencies=[Depends(csrf_protect)])
for _r in (pages.router, desk.router, stream.router, search.router, lists.router):
    _protected.include_router(_r)
router.include_router(_protected, include_in_schema=False)
