"""serve's workers freeze what start-up built out of the cyclic collector's reach (api/app.py):
full collections then walk only what requests made."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from api import app as app_module
from api.app import app_from_environment, create_app
from api.settings import Settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of the test session collects as usual


def test_a_served_app_freezes_its_start_up(settings: Settings, unfrozen: None) -> None:
    with TestClient(create_app(settings, freeze_start_up=True)):
        assert gc.get_freeze_count() > 10_000


def test_other_apps_leave_the_collector_alone(settings: Settings, unfrozen: None) -> None:
    with TestClient(create_app(settings)):
        assert gc.get_freeze_count() == 0


def test_serve_asks_for_it(monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    asked: dict[str, Any] = {}
    monkeypatch.setattr(app_module, "create_app", lambda _, **options: asked.update(options))
    app_from_environment()
    assert asked == {"freeze_start_up": True}
