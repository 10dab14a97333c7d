"""The interactive API docs (/docs, /redoc), only with ``FACEKEEP_DOCS=1``.

They load Swagger UI and ReDoc from a CDN, on the same origin as pages that keep
credentials in ``sessionStorage``: so they are off by default, and when on, each page
carries a policy that admits exactly its CDN files and, by hash, its own inline script,
and lets it talk only to this origin.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse

SWAGGER_JS = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"
SWAGGER_CSS = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"
REDOC_JS = "https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"
_INLINE = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _hashes(html: str) -> str:
    return " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE.findall(html)
    )


def _policy(html: str, scripts: str, styles: str) -> str:
    return (
        f"default-src 'none'; script-src {scripts} {_hashes(html)}; "
        f"style-src {styles} 'unsafe-inline'; img-src 'self' data: https:; "
        "font-src https:; worker-src blob:; connect-src 'self'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )


def add_docs(app: FastAPI) -> None:
    """Serve /docs and /redoc for this app, each under its own content security policy."""
    openapi_url = app.openapi_url or "/openapi.json"
    swagger = bytes(
        get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - docs",
            swagger_js_url=SWAGGER_JS,
            swagger_css_url=SWAGGER_CSS,
        ).body
    ).decode()
    redoc = bytes(
        get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=REDOC_JS,
            with_google_fonts=False,
        ).body
    ).decode()
    pages = {
        "/docs": (swagger, _policy(swagger, SWAGGER_JS, SWAGGER_CSS)),
        "/redoc": (redoc, _policy(redoc, REDOC_JS, "")),
    }
    for path, (html, policy) in pages.items():

        async def page(_request: Request, html: str = html, policy: str = policy) -> HTMLResponse:
            return HTMLResponse(html, headers={"Content-Security-Policy": policy})

        app.add_route(path, page, include_in_schema=False)
