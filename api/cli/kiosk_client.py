"""The command line's HTTP client for a kiosk: it posts probes to a running service's
``/v1/match`` with a kiosk key, as a venue's kiosk would."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from api.cli.common import read_image

__all__ = ["KioskClient", "MatchReply"]

MatchReply = tuple[int, dict[str, Any]]


class KioskClient:
    """A kiosk signed in with its key; use it in a ``with`` block."""

    def __init__(self, url: str, key: str, *, timeout: float = 30) -> None:
        headers = {"Authorization": f"Bearer {key}"}
        self._http = httpx.Client(base_url=url, headers=headers, timeout=timeout)

    def __enter__(self) -> KioskClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._http.close()

    def match(self, images: Sequence[Path], purpose: str | None = None) -> MatchReply:
        """Post one probe (1 to 5 images of one guest): the HTTP status and the JSON body."""
        data = {"purpose": purpose} if purpose else {}
        parts = [("image", (path.name, read_image(path))) for path in images]
        response = self._http.post("/v1/match", files=parts, data=data)
        body: dict[str, Any] = response.json()
        return response.status_code, body
