"""Request bodies read in memory: multipart forms never spill to a temporary file."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.responses import Response

from api.problems import Problem


class _InMemoryParser(MultiPartParser):
    # Starlette spools file parts over 1 MiB to a temporary file; uploads here are face
    # photos that must never touch the disk, and the body size is already capped.
    spool_max_size = 1 << 40


async def read_multipart(
    request: Request, *, max_files: int = 5, too_many_files: Problem | None = None
) -> FormData:
    """Parse a multipart body in memory (the body gate caps its size); more
    than ``max_files`` files is answered with ``too_many_files`` if given."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise Problem("unsupported_media_type", "send multipart/form-data")
    parser = _InMemoryParser(
        request.headers,
        request.stream(),
        max_files=max_files,
        max_fields=50,
        max_part_size=64 * 1024,
    )
    try:
        return await parser.parse()
    except MultiPartException as exc:
        # Starlette tells "too many files" apart only by its message (tests pin it).
        if too_many_files is not None and exc.message.startswith("Too many files"):
            raise too_many_files from None
        raise Problem("invalid_request", f"malformed multipart body: {exc.message}") from None


#: JSON bodies larger than this are parsed in a worker thread, off the event loop.
PARSE_INLINE = 16 * 1024


async def _loads(body: bytes) -> Any:
    """``json.loads``, in a worker thread when the body is large enough to stall the loop."""
    if len(body) > PARSE_INLINE:
        return await asyncio.to_thread(json.loads, body)
    return json.loads(body)


class OffLoopJsonRequest(Request):
    """A request whose large JSON body FastAPI parses off the event loop: a megabyte of
    JSON takes milliseconds to parse, during which no other request (not even
    ``/healthz``) would be served."""

    async def json(self) -> Any:
        """The body as JSON, parsed once (in a worker thread past ``PARSE_INLINE``)."""
        if not hasattr(self, "_json"):
            self._json = await _loads(await self.body())
        return self._json


class OffLoopJsonRoute(APIRoute):
    """Route class of routers whose JSON bodies may be large (FastAPI's documented way
    of giving routes a custom request class)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            return await handler(OffLoopJsonRequest(request.scope, request.receive))

        return handle


async def read_json_object(request: Request) -> dict[str, Any]:
    """Parse a JSON object body or answer 400 ``invalid_json``. The body gate has already
    capped its size."""
    body = await request.body()
    try:
        value = await _loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Problem("invalid_json", "the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise Problem("invalid_json", "the body must be a JSON object")
    return value


async def files(form: FormData, name: str) -> list[bytes]:
    """Contents of the file parts called ``name``."""
    out = []
    for item in form.getlist(name):
        if not isinstance(item, UploadFile):
            raise Problem("invalid_request", f"'{name}' must be a file part")
        out.append(await item.read())
        await item.close()
    return out


async def one_image(request: Request) -> bytes:
    """The one ``image`` file of a multipart body (a camera frame)."""
    form = await read_multipart(request, max_files=1)
    images = await files(form, "image")
    if len(images) != 1:
        raise Problem("invalid_request", "send exactly one 'image' file")
    return images[0]


def text_list(form: FormData, name: str) -> list[str]:
    """Values of a repeated text field; commas also separate values."""
    out: list[str] = []
    for item in form.getlist(name):
        if not isinstance(item, str):
            raise Problem("invalid_request", f"'{name}' must be a text field")
        _no_nul(item, name)
        out += [v.strip() for v in item.split(",") if v.strip()]
    return out


def text(form: FormData, name: str, default: str | None = None) -> str | None:
    """A single text field."""
    item = form.get(name)
    if item is None:
        return default
    if not isinstance(item, str):
        raise Problem("invalid_request", f"'{name}' must be a text field")
    _no_nul(item, name)
    return item.strip()


def _no_nul(value: str, name: str) -> None:
    # PostgreSQL refuses NUL in text columns; refuse it here on every engine alike.
    if "\x00" in value:
        raise Problem("invalid_request", f"'{name}' must not contain NUL characters")
