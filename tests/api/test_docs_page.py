"""GET /docs: Swagger UI over the legacy routes' OpenAPI document, served offline (no CDN)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from api.explorer import ASSETS_PREFIX, DOCS_PATH
from tests.browser_run import SCREENSHOTS, run_browser
from tests.conftest import TestClient
from tests.live_server import live_server


def test_docs_page_and_its_assets_are_served_same_origin(client: TestClient) -> None:
    page = client.get(DOCS_PATH)

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "http://" not in page.text
    assert "https://" not in page.text
    assert 'data-openapi-url="/openapi.json"' in page.text
    urls = re.findall(r'(?:src|href)="([^"]*)"', page.text)
    assets = [url for url in urls if url.startswith(ASSETS_PREFIX)]
    assert len(assets) == 3  # swagger-ui.css, swagger-ui-bundle.js, docs.js
    assert set(urls) - set(assets) == {"data:,"}
    for url in assets:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 500, url
    assert client.get("/openapi.json").json()["openapi"].startswith("3.")


@pytest.mark.slow
def test_docs_render_the_openapi_document_without_leaving_the_origin(tmp_path: Path) -> None:
    env = {"ONBOARDING_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/docs.db"}
    with live_server(env) as base:
        page = run_browser("docs.mjs", base, str(SCREENSHOTS))

    assert page["pageErrors"] == []
    assert page["foreignRequests"] == []
    assert "onboarding" in page["title"].lower()
    assert "/onboarding" in page["paths"]
    assert "/jwt" in page["paths"]
    assert page["tryItOut"] == 0  # read-only: signed routes cannot be tried by hand
