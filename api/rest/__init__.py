"""The operator JSON API (``/api/...``): every router of this audience, in one list.

Each router declares its own authentication; all but login sit behind the CSRF check.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.deps import csrf_protect
from api.rest import audit_log, auth, cameras, evidence, incidents, lists, users, vehicles

router = APIRouter()
router.include_router(auth.router)
_protected = APIRouter(dependencies=[Depends(csrf_protect)])
for _r in (incidents, vehicles, evidence, cameras, users, lists, audit_log):
    _protected.include_router(_r.router)
router.include_router(_protected)
