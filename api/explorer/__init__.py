"""Self-hosted GraphiQL explorer for ``GET /graphql``.

Strawberry's bundled GraphiQL page loads React and GraphiQL from a public CDN, which
breaks on machines without internet access. This package serves the same explorer
from same-origin assets instead:

* ``index.html`` (next to this file) is the page template;
* the JavaScript/CSS come from ``node_modules`` in this directory, installed at
  set-up time with ``npm ci --prefix api/explorer --no-audit --no-fund`` from the
  committed, pinned ``package-lock.json`` (``node_modules`` itself is not committed);
* only the whitelisted files in ``_ASSET_FILES`` are ever served, looked up by name,
  so no part of a request is ever joined into a filesystem path.

Missing assets never crash the service: :func:`explorer_page` still renders and the
asset routes answer ``503`` with a hint on how to install them.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Final

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

__all__ = ["ASSETS_PREFIX", "assets_installed", "explorer_page", "explorer_routes"]

ASSETS_PREFIX: Final = "/graphql/explorer"
"""URL prefix the explorer assets are served under."""

_HERE: Final = Path(__file__).resolve().parent
_TEMPLATE: Final = _HERE / "index.html"
_LOCKFILE: Final = _HERE / "package-lock.json"
_NODE_MODULES: Final = _HERE / "node_modules"

_JS: Final = "text/javascript; charset=utf-8"
_CSS: Final = "text/css; charset=utf-8"

# public name -> (path inside node_modules, content type). The only files ever served.
_ASSET_FILES: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "graphiql.min.css": ("graphiql/graphiql.min.css", _CSS),
        "react.production.min.js": ("react/umd/react.production.min.js", _JS),
        "react-dom.production.min.js": ("react-dom/umd/react-dom.production.min.js", _JS),
        "graphiql.min.js": ("graphiql/graphiql.min.js", _JS),
    }
)

# Versions are pinned and the page adds a ?v=<lockfile hash> token to every asset URL,
# so a given URL always names the same bytes and may be cached for good.
_ASSET_CACHE_CONTROL: Final = "public, max-age=31536000, immutable"

_NOT_INSTALLED_MESSAGE: Final = (
    "GraphiQL explorer assets are not installed.\n"
    "They are installed from the package registry at set-up time: run `make run`, "
    "or `npm ci --prefix api/explorer --no-audit --no-fund`, then reload.\n"
)

_PLACEHOLDER: Final = re.compile(r"\{\{([A-Z_]+)\}\}")


def _asset_path(name: str) -> Path:
    """Filesystem path of a whitelisted asset (``name`` must be a whitelist key)."""
    relative, _content_type = _ASSET_FILES[name]
    return _NODE_MODULES / relative


def assets_installed() -> bool:
    """True when ``node_modules`` holds every whitelisted asset file."""
    return all(_asset_path(name).is_file() for name in _ASSET_FILES)


def _assets_version() -> str:
    """Cache-busting token: changes whenever the pinned dependency set changes."""
    try:
        lock = _LOCKFILE.read_bytes()
    except OSError:
        return "dev"
    return hashlib.sha256(lock).hexdigest()[:12]


def _js_string(value: str) -> str:
    """``value`` as a JavaScript string literal that is safe inside a <script> element."""
    return (
        json.dumps(value)  # ensure_ascii: also escapes U+2028/U+2029
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


@functools.cache
def _render_page(graphql_path: str) -> str:
    if not graphql_path.startswith("/") or graphql_path.startswith("//"):
        raise ValueError(f"graphql_path must be a same-origin absolute path, got {graphql_path!r}")
    values = {
        "ASSETS_PREFIX": html.escape(ASSETS_PREFIX, quote=True),
        "ASSETS_VERSION": html.escape(_assets_version(), quote=True),
        "GRAPHQL_URL": _js_string(graphql_path),
    }
    template = _TEMPLATE.read_text(encoding="utf-8")
    # One pass, so a substituted value can never be re-expanded; an unknown
    # placeholder raises KeyError instead of leaking into the page.
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def explorer_page(graphql_path: str = "/graphql") -> str:
    """The GraphiQL HTML page, talking to ``graphql_path`` (rendered once per path, cached).

    Renders whether or not the assets are installed; without them the browser shows a
    hint instead of the editor.
    """
    return _render_page(graphql_path)


async def _serve_asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in _ASSET_FILES:  # whitelist lookup: the name is never used as a path
        return PlainTextResponse("Not Found\n", status_code=404)
    relative, content_type = _ASSET_FILES[name]
    path = _NODE_MODULES / relative
    try:
        stat_result = path.stat()
    except OSError:
        return PlainTextResponse(
            _NOT_INSTALLED_MESSAGE,
            status_code=503,
            headers={"Cache-Control": "no-store"},
        )
    return FileResponse(
        path,
        media_type=content_type,
        stat_result=stat_result,
        headers={
            "Cache-Control": _ASSET_CACHE_CONTROL,
            "X-Content-Type-Options": "nosniff",
        },
    )


def explorer_routes() -> list[BaseRoute]:
    """Routes serving the whitelisted asset files as ``GET``/``HEAD {ASSETS_PREFIX}/{name}``.

    Unknown names answer 404; whitelisted files missing from ``node_modules`` answer 503.
    """
    return [
        Route(
            f"{ASSETS_PREFIX}/{{name:str}}",
            _serve_asset,
            methods=["GET"],
            name="graphql_explorer_asset",
        )
    ]
