"""`elasticrec serve`: serve a trained run's device packages over HTTP (Starlette + uvicorn).

Each device asks for its own package at its current budget: GET /v1/package?user=ID&budget=B
[&dtype=T] (ETag = the package's sha256; If-None-Match answers 304), POST /v1/package with a
new user's {"history": [...], "budget": B}; GET /v1/runs/NAME/manifest describes the run
(NAME: the run folder's name) and GET /healthz answers when the run is loaded. Packages are
built in this process; their item parts are cached by (user group, budget, dtype).
"""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

import elasticrec
from elasticrec.cli.common import log


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve device packages of a trained run over HTTP",
                       description=__doc__.split(":", 1)[1].strip())
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="an `elasticrec train` run")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (0: any free)")
    p.add_argument("--cache", type=int, default=64, metavar="N",
                   help="item parts kept in memory (0: build every package afresh)")
    p.add_argument("--no-verify", action="store_true",
                   help="skip checking the run's files against their sha256 at start")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn  # the serve extra; imported first so that a missing one says so

    from elasticrec.serve.app import make_app
    from elasticrec.serve.packages import PackageService

    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port {args.port} is not allowed: an int in [0, 65535]")
    loaded = elasticrec.load_run(args.run_dir, verify=not args.no_verify)
    service = PackageService(loaded, name=loaded.path.resolve().name, cache_size=args.cache)
    sock = socket.create_server((args.host, args.port))  # --port 0: the kernel picks one
    port = sock.getsockname()[1]
    log(f"serving {loaded!r} as {service.name!r} on http://{args.host}:{port}")
    config = uvicorn.Config(make_app(service), log_level="warning", access_log=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
    return 0
