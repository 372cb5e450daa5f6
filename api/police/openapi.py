"""The police API's own OpenAPI document (the part of the service's contract police
integrators need), published as ``docs/police-openapi.json``.

Run ``python -m api.police.openapi > docs/police-openapi.json`` after changing a route;
``tests/police/test_schema.py`` fails while the published file is stale.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from fastapi import FastAPI

from api.police.auth import PREFIX


def police_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document cut down to /api/police/v1 and the JWKS, with the
    schemas those routes refer to."""
    doc = app.openapi()
    paths = {
        p: ops
        for p, ops in doc["paths"].items()
        if p.startswith(PREFIX) or p == "/.well-known/jwks.json"
    }
    schemas = doc.get("components", {}).get("schemas", {})
    keep: set[str] = set()
    todo = [json.dumps(paths)]
    while todo:
        text = todo.pop()
        for name in schemas:
            if name not in keep and f'"#/components/schemas/{name}"' in text:
                keep.add(name)
                todo.append(json.dumps(schemas[name]))
    comps = dict(doc.get("components", {}))
    comps["schemas"] = {k: schemas[k] for k in sorted(keep)}
    return {
        "openapi": doc["openapi"],
        "info": {
            "title": "Shouwang police liaison API",
            "version": "1",
            "description": "For police platforms (machines): OAuth2 client credentials, "
            "EdDSA JWTs, scopes and jurisdiction. Guide: docs/police-api.md.",
        },
        "paths": paths,
        "components": comps,
    }


def main() -> None:
    """Print the document (no database or Redis needed: routes only)."""
    from api.app import ROUTERS

    app = FastAPI(title="Shouwang security centre", version="1")
    for r in ROUTERS:
        app.include_router(r)
    json.dump(police_openapi(app), sys.stdout, ensure_ascii=False, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
