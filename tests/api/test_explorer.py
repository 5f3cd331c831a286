"""The self-hosted GraphiQL explorer: same-origin page, whitelisted assets, no CDN."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning

import api.explorer as explorer
from api.explorer import ASSETS_PREFIX, assets_installed, explorer_page, explorer_routes

# Starlette >= 1.x warns when its TestClient runs on `httpx` rather than `httpx2`, and the
# project turns warnings into errors; that choice belongs to the project's dev
# dependencies, not to this module, so tolerate either client here.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore",
        message=r"Using `httpx` with `starlette\.testclient`",
        category=StarletteDeprecationWarning,
    )
    from starlette.testclient import TestClient

# Independent expectation of the whitelist: public name -> content type.
EXPECTED_ASSETS = {
    "graphiql.min.css": "text/css; charset=utf-8",
    "react.production.min.js": "text/javascript; charset=utf-8",
    "react-dom.production.min.js": "text/javascript; charset=utf-8",
    "graphiql.min.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
}
# The project's own scripts, served from the package itself (always present).
EXPECTED_OWN = {
    "signin.js": "text/javascript; charset=utf-8",
    "docs.js": "text/javascript; charset=utf-8",
}

IN_CI = os.environ.get("CI") == "true"

# Locally the assets may simply not be installed yet; under CI=true they must be, so a
# missing install fails the tests instead of silently skipping them.
needs_assets = pytest.mark.skipif(
    not IN_CI and not assets_installed(),
    reason="explorer assets not installed: run `npm ci --prefix api/explorer`",
)


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = Starlette(routes=explorer_routes())
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def no_assets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Pretend ``npm ci`` was never run."""
    monkeypatch.setattr(explorer, "_NODE_MODULES", tmp_path / "node_modules")


def test_whitelist_is_what_the_tests_expect() -> None:
    assert set(explorer._ASSET_FILES) == set(EXPECTED_ASSETS)
    assert set(explorer._OWN_FILES) == set(EXPECTED_OWN)
    whitelist = {**explorer._ASSET_FILES, **explorer._OWN_FILES}
    for name, (relative, content_type) in whitelist.items():
        assert content_type == {**EXPECTED_ASSETS, **EXPECTED_OWN}[name]
        assert not Path(relative).is_absolute()
        assert ".." not in Path(relative).parts


@pytest.mark.parametrize(("name", "content_type"), sorted(EXPECTED_OWN.items()))
def test_own_scripts_are_served_even_without_npm_assets(
    client: TestClient, no_assets: None, name: str, content_type: str
) -> None:
    response = client.get(f"{ASSETS_PREFIX}/{name}")

    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.content == (Path(explorer.__file__).parent / name).read_bytes()


@needs_assets
def test_assets_installed() -> None:
    assert assets_installed(), "run `npm ci --prefix api/explorer --no-audit --no-fund`"


@needs_assets
@pytest.mark.parametrize(("name", "content_type"), sorted(EXPECTED_ASSETS.items()))
def test_every_whitelisted_asset_is_served(
    client: TestClient, name: str, content_type: str
) -> None:
    response = client.get(f"{ASSETS_PREFIX}/{name}")

    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert "max-age=31536000" in response.headers["cache-control"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert len(response.content) > 1000
    assert int(response.headers["content-length"]) == len(response.content)


@needs_assets
def test_head_is_supported(client: TestClient) -> None:
    response = client.head(f"{ASSETS_PREFIX}/graphiql.min.js")

    assert response.status_code == 200
    assert response.headers["content-type"] == EXPECTED_ASSETS["graphiql.min.js"]
    assert response.content == b""


@pytest.mark.parametrize(
    "name",
    [
        "nope.js",
        "graphiql.js",  # exists in node_modules, but is not whitelisted
        "package.json",
        "index.html",
        "__init__.py",
        "GRAPHIQL.MIN.JS",
    ],
)
def test_unknown_name_is_404(client: TestClient, name: str) -> None:
    response = client.get(f"{ASSETS_PREFIX}/{name}")

    assert response.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "..%2f..%2fpyproject.toml",
        "..%2F..%2F..%2Fpyproject.toml",
        "%2e%2e%2f%2e%2e%2fpyproject.toml",
        "..%5c..%5cpyproject.toml",
        "graphiql%2f..%2f..%2f..%2fpyproject.toml",
        "react%2fpackage.json",
        "%2fetc%2fpasswd",
        "..",
        "%2e%2e",
    ],
)
def test_path_traversal_is_404(client: TestClient, path: str) -> None:
    response = client.get(f"{ASSETS_PREFIX}/{path}")

    assert response.status_code == 404
    assert b"[project]" not in response.content
    assert b"root:" not in response.content


def test_missing_assets_answer_503_with_a_hint(client: TestClient, no_assets: None) -> None:
    assert not assets_installed()

    for name in EXPECTED_ASSETS:
        response = client.get(f"{ASSETS_PREFIX}/{name}")

        assert response.status_code == 503
        assert response.headers["content-type"].startswith("text/plain")
        assert "npm ci --prefix api/explorer" in response.text
        assert "make run" in response.text
        assert response.headers["cache-control"] == "no-store"


def test_unknown_name_is_still_404_without_assets(client: TestClient, no_assets: None) -> None:
    assert client.get(f"{ASSETS_PREFIX}/nope.js").status_code == 404


@pytest.mark.parametrize("render", [explorer_page, explorer._docs_page], ids=["graphiql", "docs"])
def test_page_has_no_external_urls(render: Callable[[], str]) -> None:
    page = render()

    assert "http://" not in page
    assert "https://" not in page
    assert "//unpkg" not in page
    assert "//cdn" not in page
    # Every src/href is same-origin: a root-relative path or an inline data: URL.
    for url in re.findall(r'(?:src|href)="([^"]*)"', page):
        assert url.startswith(("/", "data:")), url
        assert not url.startswith("//"), url


def test_pages_reference_every_whitelisted_asset() -> None:
    pages = explorer_page() + explorer._docs_page()

    for name in {**EXPECTED_ASSETS, **EXPECTED_OWN}:
        assert f'"{ASSETS_PREFIX}/{name}?v=' in pages, name


def test_page_is_graphiql_against_the_endpoint() -> None:
    page = explorer_page()

    assert "<title>onboarding-api · GraphiQL</title>" in page
    assert 'GraphiQL.createFetcher({ url: "/graphql" })' in page
    assert 'window.createWalletSignIn("/graphql")' in page
    assert "mutation Onboard($input: OnboardInput!)" in page
    assert "{{" not in page  # every placeholder was filled in


def test_page_uses_the_given_endpoint_and_escapes_it() -> None:
    page = explorer_page("/api/graphql</script><script>alert(1)//")

    assert 'url: "/api/graphql\\u003c/script\\u003e\\u003cscript\\u003ealert(1)//"' in page
    assert "</script><script>alert" not in page


@pytest.mark.parametrize("path", ["graphql", "https://example.org/graphql", "//evil/graphql"])
def test_page_rejects_non_same_origin_endpoints(path: str) -> None:
    with pytest.raises(ValueError, match="same-origin"):
        explorer_page(path)


def test_page_is_cached() -> None:
    assert explorer_page() is explorer_page()
    assert explorer_page("/graphql") is explorer_page()


def test_page_renders_without_assets(no_assets: None) -> None:
    assert not assets_installed()
    assert "GraphiQL.createFetcher" in explorer_page()
