"""Self-hosted GraphiQL explorer for ``GET /graphql`` and Swagger UI for ``GET /docs``.

Strawberry's bundled GraphiQL page loads React and GraphiQL from a public CDN, which
breaks on machines without internet access. This package serves the same explorer
from same-origin assets instead:

* ``index.html`` (next to this file) is the explorer's page template, ``docs.html`` the
  template of the OpenAPI reading at ``/docs``;
* ``signin.js`` (next to this file, plain JavaScript, no build step) is the explorer's
  "Sign in with wallet" plugin;
* the third-party JavaScript/CSS come from ``node_modules`` in this directory, installed at
  set-up time with ``npm ci --prefix api/explorer --no-audit --no-fund`` from the
  committed, pinned ``package-lock.json`` (``node_modules`` itself is not committed);
* only the whitelisted files in ``_ASSET_FILES`` and ``_OWN_FILES`` are ever served, looked
  up by name, so no part of a request is ever joined into a filesystem path.

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
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

__all__ = ["ASSETS_PREFIX", "DOCS_PATH", "assets_installed", "explorer_page", "explorer_routes"]

ASSETS_PREFIX: Final = "/graphql/explorer"
"""URL prefix the explorer assets are served under."""

_HERE: Final = Path(__file__).resolve().parent
_TEMPLATE: Final = _HERE / "index.html"
_DOCS_TEMPLATE: Final = _HERE / "docs.html"
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
        "swagger-ui.css": ("swagger-ui-dist/swagger-ui.css", _CSS),
        "swagger-ui-bundle.js": ("swagger-ui-dist/swagger-ui-bundle.js", _JS),
    }
)
# public name -> (file next to this module, content type): the project's own page scripts.
_OWN_FILES: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "signin.js": ("signin.js", _JS),
        "docs.js": ("docs.js", _JS),
    }
)

DOCS_PATH: Final = "/docs"
"""Where the human reading of the legacy routes' OpenAPI document is served."""
_OPENAPI_PATH: Final = "/openapi.json"

# Versions are pinned and the page adds a ?v=<lockfile hash> token to every asset URL,
# so a given URL always names the same bytes and may be cached for good.
_ASSET_CACHE_CONTROL: Final = "public, max-age=31536000, immutable"

_NOT_INSTALLED_MESSAGE: Final = (
    "GraphiQL explorer and /docs assets are not installed.\n"
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
    """Cache-busting token: changes whenever the pinned dependency set or an own file changes."""
    digest = hashlib.sha256()
    try:
        digest.update(_LOCKFILE.read_bytes())
        for relative, _content_type in _OWN_FILES.values():
            digest.update((_HERE / relative).read_bytes())
    except OSError:
        return "dev"
    return digest.hexdigest()[:12]


def _js_string(value: str) -> str:
    """``value`` as a JavaScript string literal that is safe inside a <script> element."""
    return (
        json.dumps(value)  # ensure_ascii: also escapes U+2028/U+2029
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


def _same_origin_path(path: str) -> str:
    if not path.startswith("/") or path.startswith("//"):
        raise ValueError(f"the endpoint must be a same-origin absolute path, got {path!r}")
    return path


def _render(template: Path, **values: str) -> str:
    values = {
        "ASSETS_PREFIX": html.escape(ASSETS_PREFIX, quote=True),
        "ASSETS_VERSION": html.escape(_assets_version(), quote=True),
        **values,
    }
    # One pass, so a substituted value can never be re-expanded; an unknown
    # placeholder raises KeyError instead of leaking into the page.
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template.read_text("utf-8"))


@functools.cache
def _render_page(graphql_path: str) -> str:
    return _render(_TEMPLATE, GRAPHQL_URL=_js_string(_same_origin_path(graphql_path)))


@functools.cache
def _docs_page() -> str:
    return _render(_DOCS_TEMPLATE, OPENAPI_URL=html.escape(_OPENAPI_PATH, quote=True))


def explorer_page(graphql_path: str = "/graphql") -> str:
    """The GraphiQL HTML page, talking to ``graphql_path`` (rendered once per path, cached).

    Renders whether or not the assets are installed; without them the browser shows a
    hint instead of the editor.
    """
    return _render_page(graphql_path)


async def _serve_asset(request: Request) -> Response:
    name = request.path_params["name"]
    # Whitelist lookups: the name is never used as a path.
    if name in _OWN_FILES:
        relative, content_type = _OWN_FILES[name]
        path = _HERE / relative
    elif name in _ASSET_FILES:
        relative, content_type = _ASSET_FILES[name]
        path = _NODE_MODULES / relative
    else:
        return PlainTextResponse("Not Found\n", status_code=404)
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


async def _serve_docs(_: Request) -> Response:
    return HTMLResponse(_docs_page(), headers={"Cache-Control": "no-cache"})


def explorer_routes() -> list[BaseRoute]:
    """Routes serving the whitelisted asset files as ``GET``/``HEAD {ASSETS_PREFIX}/{name}``,
    and Swagger UI's page at ``GET {DOCS_PATH}`` (read-only, like ``/openapi.json`` it reads).

    Unknown names answer 404; whitelisted files missing from ``node_modules`` answer 503.
    """
    return [
        Route(DOCS_PATH, _serve_docs, methods=["GET"], name="openapi_docs"),
        Route(
            f"{ASSETS_PREFIX}/{{name:str}}",
            _serve_asset,
            methods=["GET"],
            name="graphql_explorer_asset",
        ),
    ]
