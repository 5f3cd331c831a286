"""The explorer's "Sign in with wallet" in a real headless chromium (tests/browser/explorer.mjs).

An EIP-1193 wallet backed by viem's local account is injected into the page; the test clicks the
control, runs `{ me { id wallet } }` in GraphiQL's editor and reads the result pane, lets the
page refresh its session before expiry, signs out, and checks all of it in the database too.
Screenshots are left in var/screenshots/.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.browser_run import SCREENSHOTS, run_browser
from tests.live_server import live_server
from tests.signing import Signer

pytestmark = pytest.mark.slow


def _serve(tmp_path: Path) -> tuple[dict[str, str], Path]:
    db = tmp_path / "explorer.db"
    return {"ONBOARDING_DATABASE_URL": f"sqlite+aiosqlite:///{db}"}, db


def _result(text: str) -> object:
    return json.loads(text)


@pytest.mark.parametrize("scheme", ["personal_sign", "eip712"])
def test_sign_in_with_wallet_runs_me_refreshes_and_signs_out(tmp_path: Path, scheme: str) -> None:
    signer = Signer()
    key = "0x" + signer.account.key.hex().removeprefix("0x")
    env, db = _serve(tmp_path)
    with live_server(env) as base:
        page = run_browser(
            "explorer.mjs",
            "signin",
            base,
            str(SCREENSHOTS),
            env={"PRIVATE_KEY": key, "SCHEME": scheme},
        )

    wallet = signer.address.lower()
    assert page["pageErrors"] == []
    assert page["foreignRequests"] == []
    assert page["walletCalls"] == [
        "eth_requestAccounts",
        "eth_signTypedData_v4" if scheme == "eip712" else "personal_sign",
    ]
    assert page["wallet"] == wallet
    assert page["toolbarLabel"] == f"Signed in as {wallet} (profile {page['profileId']})"
    me = {"data": {"me": {"id": page["profileId"], "wallet": wallet}}}
    assert _result(page["me"]) == me
    assert _result(page["meAfterRefresh"]) == me
    assert page["signedOutMessage"] == "Signed out."
    # Signed out, the page sends no token: `me` is no profile (null, or an UNAUTHENTICATED error).
    signed_out = _result(page["meSignedOut"])
    assert isinstance(signed_out, dict)
    assert signed_out.get("data") in (None, {"me": None})
    assert {error["extensions"]["code"] for error in signed_out.get("errors", [])} <= {
        "UNAUTHENTICATED"
    }

    with sqlite3.connect(db) as conn:
        profiles = conn.execute("SELECT id, wallet, exchange_id FROM profiles").fetchall()
        sessions = conn.execute(
            "SELECT id, replaced_by, revoked_at FROM auth_sessions ORDER BY created_at, id"
        ).fetchall()
    assert profiles == [(int(page["profileId"]), wallet, "rbx")]
    # The onboarding session was spent by the refresh; its successor ended with `logout`.
    assert len(sessions) == 2
    (_first, replaced_by, first_revoked), (second, second_replaced_by, second_revoked) = sorted(
        sessions, key=lambda row: row[1] is None
    )
    assert replaced_by == second
    assert first_revoked is not None
    assert second_replaced_by is None
    assert second_revoked is not None


@pytest.fixture(scope="module")
def no_wallet_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """One visit without a wallet in the page (the default tabs are checked on it too)."""
    env, db = _serve(tmp_path_factory.mktemp("no-wallet"))
    with live_server(env) as base:
        return run_browser("explorer.mjs", "nowallet", base, str(SCREENSHOTS)), db


def test_without_a_wallet_the_control_says_so(no_wallet_page: tuple[dict[str, Any], Path]) -> None:
    page, db = no_wallet_page
    no_wallet = "No wallet found in this page"
    assert no_wallet in page["panel"]
    assert page["message"].startswith(no_wallet)
    assert page["pageErrors"] == []
    assert page["foreignRequests"] == []
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM profiles").fetchone() == (0,)


def test_default_tabs_run_as_they_are(no_wallet_page: tuple[dict[str, Any], Path]) -> None:
    """The first tab is a runnable query, the second the onboard example."""
    page, _ = no_wallet_page

    assert page["tabs"] == ["Start", "Onboard"]
    assert "query Start {" in page["defaultQuery"]
    answer = _result(page["firstRun"])
    assert isinstance(answer, dict)
    assert "errors" not in answer
    assert isinstance(answer["data"]["serverTime"], int)
    assert {exchange["id"] for exchange in answer["data"]["exchanges"]} >= {"rbx", "bfx"}
