"""The gate's admin API: ``POST /admin/rollback`` and ``GET /admin/gate`` as a FastAPI router.

Both need ``Authorization: Bearer <token>`` (the token is in ``<root>/admin.token``, mode 0600). The app
includes the router (``app.include_router(admin_router(gate))``); the ``gate`` block of ``/health`` is
:meth:`~claw_trainer.gate.publish.PublishGate.health`, which the server adds to its health callback.
"""

from __future__ import annotations

import hmac
import json
import os
from typing import Any

from claw_envs.core.errors import ConfigError
from claw_trainer.gate.publish import PublishGate


def admin_router(gate: PublishGate) -> Any:
    from fastapi import APIRouter, HTTPException, Request
    from starlette.concurrency import run_in_threadpool

    token = gate.store.token()
    router = APIRouter()

    def authorize(request: Request) -> None:
        got = request.headers.get("authorization", "")
        if not got.startswith("Bearer ") or not hmac.compare_digest(got[7:].strip(), token):
            raise HTTPException(401, "admin endpoints need 'Authorization: Bearer <token>' "
                                     f"(the token is in {gate.store.root / 'admin.token'})")

    async def rollback(request: Request) -> dict[str, Any]:
        authorize(request)
        try:
            body = await request.json()
            version = int(body["version"])
        except Exception as e:  # noqa: BLE001
            raise HTTPException(400, 'body must be {"version": N}') from e
        try:
            return await run_in_threadpool(gate.rollback, version)
        except ConfigError as e:
            raise HTTPException(404, str(e)) from e

    async def gate_status(request: Request) -> dict[str, Any]:
        authorize(request)
        return {**gate.status(), "decisions": gate.store.decisions()}

    for fn in (rollback, gate_status):  # this module's annotations are strings: give FastAPI the class
        fn.__annotations__["request"] = Request
    router.add_api_route("/admin/rollback", rollback, methods=["POST"])
    router.add_api_route("/admin/gate", gate_status, methods=["GET"])
    return router


def advertise(gate: PublishGate, url: str) -> None:
    """Tell ``claw rollback`` where the server listens (``<root>/server.json``)."""
    tmp = gate.store.root / "server.json.tmp"
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    os.replace(tmp, gate.store.root / "server.json")
