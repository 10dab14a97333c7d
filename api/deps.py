"""Dependency aliases for route signatures: ``principal: Caller`` instead of a
``Depends(...)`` default repeated in every route."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from api.auth import Principal, authenticate

#: The authenticated caller (401 otherwise). FastAPI resolves it once per request, so
#: the role check of :func:`api.auth.roles` and the route share one lookup.
Caller = Annotated[Principal, Depends(authenticate)]

__all__ = ["Caller"]
