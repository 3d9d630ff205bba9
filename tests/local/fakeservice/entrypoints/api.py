"""Fake HTTP API: echoes which app served the request, so routing can be checked."""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI, Request
from mangum import Mangum

app = FastAPI()


@app.api_route("/v1/things", methods=["GET", "POST"])
@app.api_route("/v1/things/{rest:path}", methods=["GET", "POST", "DELETE"])
@app.get("/u/{token}")
async def echo(request: Request) -> dict[str, Any]:
    """Say which app answered, for which path and method."""
    return {
        "app": "fakeservice",
        "path": request.url.path,
        "method": request.method,
        "greeting": os.environ.get("FAKE_GREETING"),
    }


handler = Mangum(app, lifespan="off")
