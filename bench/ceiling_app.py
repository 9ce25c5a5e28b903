"""The ceiling of our HTTP layer: a bare FastAPI + uvicorn process that takes the Sentry webhook the
bench sends, verifies its HMAC and parses its JSON, and stores nothing.

It runs like a service does (one worker, uvloop, httptools, no access log) and its route is a plain
Starlette route as ingest's is, so `make bench` can print ingest's throughput as a share of it,
measured in the same run with the same load tool and bodies.

    python bench/ceiling_app.py --port 8099 --secret <Sentry client secret>
"""

from __future__ import annotations

import argparse
import hashlib
import hmac

import orjson
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def ceiling_app(secret: str) -> FastAPI:
    key = secret.encode()
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    async def sentry_webhook(request: Request) -> JSONResponse:
        body = await request.body()
        received = request.headers.get("sentry-hook-signature", "")
        expected = hmac.new(key, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), received.strip().lower().encode()):
            return JSONResponse({"error": "Sentry-Hook-Signature does not match"}, status_code=401)
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        if not isinstance(payload, dict):
            return JSONResponse({"error": "body must be a JSON object"}, status_code=422)
        return JSONResponse({"accepted": 1}, status_code=202)

    async def ready(request: Request) -> JSONResponse:
        return JSONResponse({"ready": True})

    app.router.add_route("/webhooks/{provider}/{integration_id}", sentry_webhook, methods=["POST"])
    app.router.add_route("/readyz", ready, methods=["GET"])
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    args = parser.parse_args()
    uvicorn.run(ceiling_app(args.secret), host="127.0.0.1", port=args.port, workers=1, loop="uvloop",
                http="httptools", access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
