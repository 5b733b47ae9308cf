"""The registration authority's web API, ``/ra/v1``: each issuance flow step by step over
HTTP, on the JSON error contract of :mod:`pki.web.jsonapi` (the institution's ``X-API-Key``
first, bodies validated before work, a refusal as 4xx JSON with its stable code).

The routes of each flow live beside it: joint certificates here, financial certificates in
:mod:`pki.web.ra_financial`, private certificates in :mod:`pki.web.ra_private`.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.routing import Route

from ..usecases.ra import RegistrationDesk

__all__ = ["ra_routes"]


def ra_routes(factory: Callable[[], RegistrationDesk], *, workers: int = 8) -> list[Route]:
    """Routes for the flows of the per-thread desks ``factory`` makes."""
    return []
