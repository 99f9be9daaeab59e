"""The HTTP face of a ``PackageService``: a Starlette application.

    GET  /healthz                              200 {"status": "ok", ...}
    GET  /v1/runs/NAME/manifest                the run: method, model, sizes, dtypes, result
    GET  /v1/package?user=ID&budget=B[&dtype=T]    the user's package
    POST /v1/package  {"history": [...], "budget": B, "dtype": T}   a new user's package

A package comes as ``application/vnd.elasticrec.package`` with ``ETag`` set to its sha256 (a
client that sends it back in ``If-None-Match`` gets 304 Not Modified while its package is
unchanged). A refused request gets a 4xx JSON body ``{"error": ..., "parameter": ...}``
naming the parameter at fault. Handlers are plain functions, which Starlette runs in its
thread pool: package building is NumPy work.
"""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from elasticrec.serve.packages import Built, PackageService, RequestError

MEDIA_TYPE = "application/vnd.elasticrec.package"
QUERY = {"user", "budget", "dtype"}


def make_app(service: PackageService) -> Starlette:
    def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "run": service.name, **service.stats()})

    def manifest(request: Request) -> Response:
        name = request.path_params["name"]
        if name != service.name:
            return _refused(RequestError(404, "name", f"no run {name!r} here; this server "
                                                      f"serves {service.name!r}"))
        return JSONResponse(service.manifest())

    def get_package(request: Request) -> Response:
        query = request.query_params
        unknown = sorted(set(query) - QUERY)
        try:
            if unknown:
                raise RequestError(400, unknown[0], f"unknown parameter {unknown[0]!r}; "
                                                    f"allowed: {sorted(QUERY)}")
            built = service.for_user(query.get("user"), query.get("budget"),
                                     query.get("dtype"))
        except RequestError as exc:
            return _refused(exc)
        return _package(request, built)

    async def post_package(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _refused(RequestError(400, "body", "the body must be a JSON object "
                                                      '{"history": [...], "budget": ...}'))
        if not isinstance(body, dict):
            return _refused(RequestError(400, "body", "the body must be a JSON object"))
        unknown = sorted(set(body) - {"history", "budget", "dtype"})
        if unknown:
            return _refused(RequestError(400, unknown[0], f"unknown field {unknown[0]!r}; "
                                                          "allowed: budget, dtype, history"))
        try:
            built = await run_in_threadpool(service.for_history, body.get("history"),
                                            body.get("budget"), body.get("dtype"))
        except RequestError as exc:
            return _refused(exc)
        return _package(request, built)

    return Starlette(routes=[
        Route("/healthz", healthz),
        Route("/v1/runs/{name}/manifest", manifest),
        Route("/v1/package", get_package, methods=["GET"]),
        Route("/v1/package", post_package, methods=["POST"]),
    ])


def _package(request: Request, built: Built) -> Response:
    etag = f'"{built.checksum}"'
    headers = {"ETag": etag, "X-Elasticrec-Cached": "1" if built.cached else "0"}
    if etag in _tags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    return Response(built.data, media_type=MEDIA_TYPE, headers=headers)


def _tags(header: str) -> set[str]:
    return {t.strip().removeprefix("W/") for t in header.split(",") if t.strip()}


def _refused(exc: RequestError) -> JSONResponse:
    return JSONResponse({"error": str(exc), "parameter": exc.parameter},
                        status_code=exc.status)
