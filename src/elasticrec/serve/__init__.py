"""A package server for devices: each device asks for its package at its current budget.

``PackageService`` builds the packages of a loaded run through the public API (and caches
their item parts); ``make_app`` puts it behind HTTP (Starlette, extra ``serve``). This part
consumes only public ``elasticrec`` names; ``elasticrec serve`` runs it under uvicorn.
"""

from elasticrec.serve.packages import Built, PackageService, RequestError

__all__ = ["Built", "PackageService", "RequestError"]
