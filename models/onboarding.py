"""The onboarding use case: verify the wallet proof, get or create the profile, issue credentials.

Everything that writes happens in one transaction: the wallet's rate-limit token, the
spent-signature entry, the profile and the credentials land together or not at all, so a
refusal leaves no trace but its client-address token. Rate limits (see `models.ratelimit`):
every attempt from a client address takes a token, however it ends; a wallet's token is taken
only once its proof is verified and found unspent. The answers come in the order `_refused`
gives: over the address limit, RATE_LIMITED whatever else is wrong; then SIGNATURE_REPLAYED;
then the wallet's limit.

The wallet proof comes first and writes nothing. A key's (ECDSA) proof is CPU only (~0.1 ms,
cheaper than any statement). A contract wallet's proof asks a chain node
(`models.contract_wallets`): the client address pays its token before that call, so a flood
cannot make the service call the node.

The transaction runs on a bare driver connection (`Database.transaction`; a market maker's, which
adds an API key through the ORM, inside `Database.write`). On PostgreSQL it is one statement
(data-modifying CTEs, `_admit_statement`): the client address's token, the wallet's, the ledger
entry, getting or creating the profile and inserting its session (made before the profile is
known, `sessions.ClientSession`), each write only once the one before it got through; and one
statement is a transaction of its own, so a client's onboarding is one round trip
(`Transaction.finish`). That also keeps short the lock on the address's bucket row, which every
onboarding from the address updates: it lasts that statement, with no round trip and no turn
of the worker's loop (at load, other requests' work: milliseconds) inside it. A refusal found
there wrote its address token and nothing else. SQLite has no data-modifying CTEs and one
writer at a time (no row lock to keep short): there both tokens, the ledger and the profile are
three statements, sent with the BEGIN IMMEDIATE in one round trip; when they admit the attempt
and create the profile, the session's INSERT and the COMMIT follow in that same round trip: six
statements (see `models.db` for what a round trip is on each engine). An existing profile's
session goes in a second round trip, and a refusal, rolled back, costs a few more (the
address's token is taken again after the rollback). The tokens are signed last, once the
profile's id is known.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    and_,
    bindparam,
    delete,
    exists,
    false,
    func,
    insert,
    literal_column,
    true,
    union_all,
)
from sqlalchemy import select as sa_select  # Core: typed by the columns, not by a model
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from .api_keys import api_key_secret, live_keys, new_api_key_row
from .chain import NO_CHAINS, Chains
from .config import DomainConfig, Exchange, Rate
from .contract_wallets import prove_wallet
from .db import Database, Rows, Step, Transaction
from .enums import SELF_ONBOARDING_TYPES, ProfileType, SessionKind
from .errors import AppError, ErrorCode
from .ledger import spend_parameters, spend_statement, spend_step, unspent
from .ratelimit import (
    Bucket,
    RateLimited,
    admit_client,
    client_bucket,
    refusal,
    refused_wait,
    take_parameters,
    take_statement,
    take_step,
    wallet_bucket,
)
from .sessions import Credentials, issue_access_session, new_client_session
from .tables import ApiKey, AuthSession, Profile, ProfileRecord, UsedSignature
from .wallet import WalletProof, wallet_text


@dataclass(frozen=True, slots=True)
class OnboardRequest:
    wallet: object
    signature: object
    timestamp: int
    is_client: bool
    exchange_id: str = "rbx"
    profile_type: str = ProfileType.TRADER.value
    client_ip: str | None = None
    """The caller's address, for the per-IP rate limit; None (in-process callers) skips it."""


@dataclass(frozen=True, slots=True)
class ApiCredentials:
    key: str
    secret: str
    expiration: int
    status: str
    tag: str
    profile_id: int


@dataclass(frozen=True, slots=True)
class Onboarded:
    profile: ProfileRecord
    jwt: str
    refresh_token: str | None = None
    random_secret: str | None = None
    api_secret: ApiCredentials | None = None
    created: bool = False
    """The profile was created by this onboarding (so it has no orders, positions or notes)."""


async def onboard(
    db: Database, creds: Credentials, request: OnboardRequest, chains: Chains = NO_CHAINS
) -> Onboarded:
    config = creds.config
    now = time.time()
    address = _AddressToken(db, config.rate_limit_per_ip, request.client_ip, now)
    try:
        proof = await _verified(config, request, int(now), chains, address.pay)
        onboarded = await _enter(db, creds, request, proof, now, address)
    except AppError as refused:
        # Every attempt counts against its address; a refused address token is not taken twice.
        if not (isinstance(refused, RateLimited) and refused.client):
            await address.pay()
        raise
    chains.on_onboarded(proof.kind)
    return onboarded


class _AddressToken:
    """The attempt's client-address token, taken once: by the admission that commits it, or by
    `pay` (before a contract wallet's chain call, whoever makes us call a node pays first; or
    after a refusal that undid the admission's take)."""

    def __init__(self, db: Database, rate: Rate | None, address: str | None, now: float) -> None:
        self._db, self._address, self._now = db, address, now
        self.bucket = None if rate is None or address is None else client_bucket(rate, address)
        self.taken = self.bucket is None
        """Taken already, or nothing to take (no limit, or no client address)."""

    @property
    def pending(self) -> Bucket | None:
        """The bucket for the admission to take from, unless its token is already taken."""
        return None if self.taken else self.bucket

    async def pay(self) -> None:
        if not self.taken and self.bucket is not None and self._address is not None:
            self.taken = True
            await admit_client(self._db, self.bucket[1], self._address, self._now)


async def _verified(
    config: DomainConfig,
    request: OnboardRequest,
    now_s: int,
    chains: Chains,
    before_chain_call: Callable[[], Awaitable[None]],
) -> WalletProof:
    """The request's checks before any write: exchange, profile type, the proof itself."""
    exchange = known_exchange(config, request.exchange_id)
    if request.profile_type not in SELF_ONBOARDING_TYPES:
        allowed = " or ".join(sorted(SELF_ONBOARDING_TYPES))
        raise AppError(
            ErrorCode.UNSUPPORTED_PROFILE_TYPE,
            f"profile type {request.profile_type!r} cannot self-onboard; use {allowed}",
        )
    # The only step that may wait on a chain node (contract wallets), before any transaction.
    return await prove_wallet(
        request.wallet,
        request.signature,
        request.timestamp,
        exchange,
        request.exchange_id.lower(),
        chains,
        now=now_s,
        ttl=config.signature_ttl,
        before_chain_call=before_chain_call,
    )


async def _enter(
    db: Database,
    creds: Credentials,
    request: OnboardRequest,
    proof: WalletProof,
    now: float,
    address: _AddressToken,
) -> Onboarded:
    """The one transaction: tokens, ledger, profile, credentials."""
    config = creds.config
    wallet = wallet_text(proof.address)
    rate = config.rate_limit_per_wallet
    wallet_limit = wallet_bucket(rate, wallet) if rate is not None else None
    now_s, now_us = int(now), int(now * 1_000_000)
    entry = ProfileEntry(wallet, request.exchange_id.lower(), request.profile_type, now_us)
    admission = Admission(
        entry, address, address.pending, wallet_limit, proof, request.timestamp, now
    )
    if request.is_client:
        async with db.transaction() as transaction:
            browser = _BrowserSession(db, creds, now_s)
            profile, created = await _admitted(db, transaction, config, admission, browser)
            onboarded = browser.onboarded(transaction, profile)
    else:  # the API key is an ORM unit of work (rare: market makers)
        async with db.write() as session:
            transaction = await db.joined(await session.connection())
            profile, created = await _admitted(db, transaction, config, admission)
            onboarded = await _market_maker_session(session, creds, profile, now_s, now_us)
    return dataclasses.replace(onboarded, created=created)


@dataclass(frozen=True, slots=True)
class Admission:
    """What the transaction admits: the tokens to take, the proof to spend, the profile."""

    entry: ProfileEntry
    address: _AddressToken
    client: Bucket | None
    """The client address's bucket as the admission began (None: not limited, or its token
    already taken); `address` may be marked taken on the way, this stays what was asked for."""
    wallet: Bucket | None
    proof: WalletProof
    expires_at: int
    now: float

    @property
    def buckets(self) -> list[Bucket]:
        """The buckets to take a token from, the client address's first."""
        return [bucket for bucket in (self.client, self.wallet) if bucket is not None]


async def _admitted(
    db: Database,
    transaction: Transaction,
    config: DomainConfig,
    admission: Admission,
    browser: _BrowserSession | None = None,
) -> tuple[ProfileRecord, bool]:
    """Take the tokens, spend the proof, get or create the profile; a refusal (`_refused`)
    writes nothing but the client address's token.

    `browser`'s session row is written in the same round trip where it can be: on PostgreSQL by
    the same statement; on SQLite, when everything was admitted and the profile was created,
    with the COMMIT, which then happens there."""
    if db.dialect == "postgresql":
        return await _admit_at_once(db, transaction, config, admission, browser)
    # SQLite: the three statements in one round trip; a refusal rolls back what followed it.
    buckets, single_use = admission.buckets, config.single_use_signatures
    steps = [take_step(db, buckets, admission.now)] if buckets else []
    if single_use:
        steps.append((spend_step(db), _spend_parameters(admission)))
    create = db.driver_statement("onboarding.create_profile", lambda: _create_statement(db))
    steps.append((create, admission.entry.parameters(config)))
    created: list[ProfileRecord] = []

    def then(results: list[Rows]) -> list[Step]:
        """Inside the round trip: a new profile, admitted, is finished at once."""
        admitted = {row["key"] for row in results[0]} if buckets else set()
        if not results[-1] or any(key not in admitted for key, _ in buckets):
            return []
        if single_use and not results[-2]:
            return []
        created.append(_profile(results[-1][0]))
        return browser.steps(created[0]) if browser is not None else []

    results = await transaction.batch(*steps, then=then)
    if created:  # admitted, created and committed in the batch's round trip
        return created[0], True
    taken = {row["key"] for row in results[0]} if buckets else set()
    replayed = single_use and not results[-2]
    if (refused := await _refused(db, transaction, admission, taken, replayed)) is not None:
        raise refused  # and the transaction, rolled back, writes nothing
    if results[-1]:
        return _profile(results[-1][0]), True
    existing = await _found(db, transaction, admission.entry)  # it existed, or a concurrent one
    assert existing is not None
    return existing, False


async def _refused(
    db: Database, transaction: Transaction, admission: Admission, taken: set[str], replayed: bool
) -> AppError | None:
    """The answer to an admission that did not get through, if it did not, in this order: the
    client address's limit (over it, RATE_LIMITED whatever else is wrong), a replay (which no
    wait would cure), the wallet's limit. `taken`: the keys of the buckets it took a token from."""
    client, wallet = admission.client, admission.wallet
    if client is not None and client[0] not in taken:
        return await _limited(db, transaction, client, admission.now)
    if replayed:
        return AppError(ErrorCode.SIGNATURE_REPLAYED, REPLAYED)
    if wallet is not None and wallet[0] not in taken:
        return await _limited(db, transaction, wallet, admission.now)
    return None


async def _limited(
    db: Database, transaction: Transaction, bucket: Bucket, now: float
) -> RateLimited | None:
    key, rate = bucket
    return refusal([bucket], {key: await refused_wait(db, transaction, key, rate, now)})


def _spend_parameters(admission: Admission) -> dict[str, Any]:
    return spend_parameters(**_ledger_key(admission.proof), expires_at=admission.expires_at)


def known_exchange(config: DomainConfig, exchange_id: str) -> Exchange:
    """The configured exchange for an id in any case, or UNSUPPORTED_EXCHANGE."""
    exchange = config.exchanges.get(exchange_id.lower())
    if exchange is None:
        known = ", ".join(sorted(config.exchanges))
        raise AppError(
            ErrorCode.UNSUPPORTED_EXCHANGE, f"exchange id {exchange_id!r} is not one of: {known}"
        )
    return exchange


REPLAYED = "this signature was already used to onboard; sign a new message with a new timestamp"


def _ledger_key(proof: WalletProof) -> dict[str, str]:
    """A wallet proof's entry in the single-use ledger: (signer, digest)."""
    return {"signer": wallet_text(proof.address), "digest": proof.digest.hex()}


async def purge_spent_signatures(db: Database, now: int | None = None) -> int:
    """Drop ledger entries whose timestamp has passed: those can no longer be replayed anyway."""
    cutoff = int(time.time()) if now is None else now
    async with db.write() as session:
        result = await session.exec(
            delete(UsedSignature).where(col(UsedSignature.expires_at) <= cutoff)
        )
    return int(result.rowcount)


@dataclass(frozen=True, slots=True)
class ProfileEntry:
    """The profile an onboarding gets, or creates when the (wallet, exchange) key is new."""

    wallet: str
    exchange_id: str
    profile_type: str
    now_us: int

    def key(self) -> dict[str, Any]:
        return {"wallet": self.wallet, "exchange_id": self.exchange_id}

    def parameters(self, config: DomainConfig) -> dict[str, Any]:
        return {
            **self.key(),
            "profile_type": self.profile_type,
            "leverage": {market: str(m.default_leverage) for market, m in config.markets.items()},
            "now_us": self.now_us,
        }


_PROFILE = Profile.__table__  # type: ignore[attr-defined]


def _key_matches() -> Any:
    return and_(
        _PROFILE.c.wallet == bindparam("wallet"), _PROFILE.c.exchange_id == bindparam("exchange_id")
    )


def _by_key_statement() -> Any:
    return sa_select(*_PROFILE.c).where(_key_matches())


def _create_statement(db: Database, when: Any = None) -> Any:
    """INSERT the profile unless its key exists (then no id is drawn from the sequence) or
    `when` does not hold, RETURNING it; ON CONFLICT covers a concurrent insert of the same key:
    nothing is returned (without `when`), or (with it: PostgreSQL's one-statement admission)
    the concurrent profile, which an update that changes nothing locks and returns. Its
    `inserted` tells the two apart (PostgreSQL's `xmax` is 0 on a row version this statement
    inserted, the updater's transaction on one it updated)."""
    c = _PROFILE.c
    values = sa_select(
        bindparam("wallet", type_=c.wallet.type),
        bindparam("exchange_id", type_=c.exchange_id.type),
        bindparam("profile_type", type_=c.profile_type.type),
        bindparam("leverage", type_=c.leverage.type),
        bindparam("now_us", type_=c.last_update.type),
        bindparam("now_us", type_=c.created_at.type),
    ).where(~exists().where(_key_matches()), *([] if when is None else [when]))
    columns = ["wallet", "exchange_id", "profile_type", "leverage", "last_update", "created_at"]
    insert = db.insert(Profile).from_select(columns, values)
    key = ["wallet", "exchange_id"]
    if when is None:
        return insert.on_conflict_do_nothing(index_elements=key).returning(*c)
    taken_over = insert.on_conflict_do_update(index_elements=key, set_={"wallet": c.wallet})
    return taken_over.returning(*c, literal_column("xmax = 0").label("inserted"))


def _profile(values: dict[str, Any]) -> ProfileRecord:
    """The profile from the driver's values of the profiles columns: JSON and SQLite's decimal
    text decoded as the column types would."""
    leverage = values["leverage"]
    return ProfileRecord(
        id=values["id"],
        wallet=values["wallet"],
        exchange_id=values["exchange_id"],
        profile_type=values["profile_type"],
        status=values["status"],
        balance=Decimal(values["balance"]),
        cum_trading_volume=Decimal(values["cum_trading_volume"]),
        leverage=json.loads(leverage) if isinstance(leverage, str) else leverage,
        last_update=values["last_update"],
        last_liq_check=values["last_liq_check"],
        created_at=values["created_at"],
    )


async def _found(
    db: Database, transaction: Transaction, entry: ProfileEntry
) -> ProfileRecord | None:
    by_key = db.driver_statement("onboarding.profile_by_key", _by_key_statement)
    rows = await transaction.rows(by_key, entry.key())
    return _profile(rows[0]) if rows else None


async def _get_or_create(
    db: Database, transaction: Transaction, config: DomainConfig, entry: ProfileEntry
) -> tuple[ProfileRecord, bool]:
    """Atomic under any concurrency: the unique (wallet, exchange) key decides the one winner.
    Returns the profile and whether this call created it."""
    create = db.driver_statement("onboarding.create_profile", lambda: _create_statement(db))
    created = await transaction.rows(create, entry.parameters(config))
    if created:
        return _profile(created[0]), True
    existing = await _found(db, transaction, entry)  # it existed, or a concurrent one made it
    assert existing is not None
    return existing, False


async def get_or_create_profile(
    db: Database,
    session: AsyncSession,
    config: DomainConfig,
    wallet: str,
    exchange_id: str,
    profile_type: str,
    now_us: int,
) -> tuple[ProfileRecord, bool]:
    """The onboarding's get-or-create rule inside the caller's transaction (seeding, tests)."""
    entry = ProfileEntry(wallet, exchange_id, profile_type, now_us)
    return await _get_or_create(db, await db.joined(await session.connection()), config, entry)


def _admit_statement(
    db: Database, client: bool, wallet: bool, single_use: bool, *, with_session: bool
) -> Any:
    """PostgreSQL: the whole admission in one statement, which is atomic on its own. Each write
    happens only once the one before it got through, read from that one's RETURNING: the client
    address's token, the wallet's, the proof's ledger entry, then getting or creating the profile
    and (with a session) the session's row; so a refusal writes nothing past its own step (its
    client-address token is kept, as `models.ratelimit`'s rule wants).

    The wallet's token is taken only while the ledger holds no entry for the proof as of the
    statement's start, so a replay does not cost the wallet a token; only a replay sent while
    the first use is being committed (one that could as well have been the first) may.

    It returns one row: per bucket i whether its token was taken (`taken_i`), whether the
    ledger was free of the proof (`unspent`) and the proof was spent (`spent`), whether the
    session was inserted (`session`), and the profile's columns with `created` (NULL when it
    was refused)."""
    flags: list[Any] = []
    admitted: list[Any] = []
    """Conditions, each that a step got through."""

    def step(write: Any, name: str, flag: str) -> None:
        cte = write.cte(name)
        flags.append(select(func.count()).select_from(cte).scalar_subquery().label(flag))
        admitted.append(select(literal_column("1")).select_from(cte).exists())

    if client:
        step(take_statement(db, [0]), "client_token", "taken_0")
    if single_use:
        flags.append(unspent().label("unspent"))
    if wallet:
        guard = [unspent()] if single_use else []
        step(
            take_statement(db, [int(client)], when=and_(true(), *admitted, *guard)),
            "wallet_token",
            f"taken_{int(client)}",
        )
    if single_use:
        step(spend_statement(db, when=and_(true(), *admitted)), "spent", "spent")
    through = and_(true(), *admitted)
    created = _create_statement(db, when=through).cte("created")
    found = union_all(
        select(created.c.inserted.label("created"), *(created.c[c.name] for c in _PROFILE.c)),
        select(false().label("created"), *_PROFILE.c).where(_key_matches(), through),
    ).cte("found")
    if with_session:
        session = _session_insert_for(found).cte("session")
        flags.append(select(func.count()).select_from(session).scalar_subquery().label("session"))
    one = select(literal_column("1").label("one")).subquery("one")
    return select(*flags, *found.c).select_from(one.outerjoin(found, true()))


async def _admit_at_once(
    db: Database,
    transaction: Transaction,
    config: DomainConfig,
    admission: Admission,
    browser: _BrowserSession | None,
) -> tuple[ProfileRecord, bool]:
    """PostgreSQL: the tokens, the proof, the profile and `browser`'s session in one statement,
    the transaction's last: a client's goes alone, one round trip (`Transaction.finish`)."""
    entry, now = admission.entry, admission.now
    buckets, single_use = admission.buckets, config.single_use_signatures
    client, wallet = admission.client is not None, admission.wallet is not None
    with_session = browser is not None
    statement = db.driver_statement(
        f"onboarding.admit.{client}.{wallet}.{single_use}.{with_session}",
        lambda: _admit_statement(db, client, wallet, single_use, with_session=with_session),
    )
    parameters = {**entry.parameters(config), **take_parameters(buckets, now)}
    if single_use:
        parameters.update(_spend_parameters(admission))
    if browser is not None:
        parameters.update(browser.parameters())
    (row,) = await transaction.finish(statement, parameters)
    if client and row["taken_0"] and transaction.committed:
        admission.address.taken = True  # kept, whatever the answer
    taken = {key for i, (key, _) in enumerate(buckets) if row[f"taken_{i}"]}
    passed = len(taken) == len(buckets)
    replayed = single_use and not (row["unspent"] and (row["spent"] or not passed))
    if (refused := await _refused(db, transaction, admission, taken, replayed)) is not None:
        raise refused
    if browser is not None:
        browser.written = bool(row["session"])
    return _profile(row), bool(row["created"])


_SESSION_COLUMNS = AuthSession.__table__.columns  # type: ignore[attr-defined]


def _session_insert() -> Any:
    """A session row's INSERT, every column a parameter of its name."""
    return insert(AuthSession).values({c.name: bindparam(c.name) for c in _SESSION_COLUMNS})


def _session_insert_for(found: Any) -> Any:
    """PostgreSQL: the session row's INSERT for the profile in `found` (none when it is empty),
    every other column a parameter `session_<name>` (`_BrowserSession.parameters`)."""
    values = [
        found.c.id if c.name == "profile_id" else bindparam(f"session_{c.name}", type_=c.type)
        for c in _SESSION_COLUMNS
    ]
    return (
        insert(AuthSession)
        .from_select([c.name for c in _SESSION_COLUMNS], sa_select(*values).select_from(found))
        .returning(col(AuthSession.id))
    )


class _BrowserSession:
    """A brand-new browser session: access JWT, single-use refresh token, HMAC secret. Made
    before the profile is known (`ClientSession`), so its row goes in the round trip that gets
    or creates the profile where it can (`_admitted`), otherwise with the COMMIT; nothing reads
    it back. Its tokens are signed last, once the profile's id is known."""

    def __init__(self, db: Database, creds: Credentials, now_s: int) -> None:
        self._statement = db.driver_statement("onboarding.insert_session", _session_insert)
        self._creds = creds
        self._session = new_client_session(creds, now_s)
        self.written = False
        """The row was written with the profile's statements."""

    def parameters(self) -> dict[str, Any]:
        """The row's values but the profile, for `_session_insert_for`."""
        row = self._session.row
        return {f"session_{name}": row[name] for name in row if name != "profile_id"}

    def steps(self, profile: ProfileRecord) -> list[Step]:
        """The row's INSERT, sent with the profile's statements."""
        self.written = True
        return [(self._statement, self._session.row_for(profile.id))]

    def onboarded(self, transaction: Transaction, profile: ProfileRecord) -> Onboarded:
        if not self.written:
            transaction.later(self._statement, self._session.row_for(profile.id))
        tokens = self._session.tokens(self._creds, profile.id)
        return Onboarded(
            profile=profile,
            jwt=tokens.jwt,
            refresh_token=tokens.refresh_token,
            random_secret=tokens.random_secret,
        )


async def _market_maker_session(
    session: AsyncSession, creds: Credentials, profile: ProfileRecord, now_s: int, now_us: int
) -> Onboarded:
    """A fresh JWT, and the onboarding API key: the unexpired one, or a new one."""
    row, jwt = issue_access_session(creds, profile.id, SessionKind.MARKET_MAKER, now_s)
    session.add(AuthSession(**row))
    # Concurrent onboardings of one market maker (on any worker) must agree on one key: they
    # queue on the profile row (PostgreSQL; SQLite runs one writer at a time anyway). NO KEY
    # UPDATE leaves client onboardings of the profile (foreign-key checks) unblocked.
    await session.exec(
        select(Profile.id).where(Profile.id == profile.id).with_for_update(key_share=True)
    )
    current = select(ApiKey).where(*live_keys(profile.id, now_s), ApiKey.tag == "")
    api_key = (await session.exec(current.order_by(col(ApiKey.expiration).desc()).limit(1))).first()
    if api_key is None:
        api_key, secret = new_api_key_row(
            creds, profile.id, expiration=now_s + creds.config.api_key_ttl, now_us=now_us
        )
        session.add(api_key)
    else:
        secret = api_key_secret(creds, api_key)
    return Onboarded(
        profile=profile,
        jwt=jwt,
        api_secret=ApiCredentials(
            key=api_key.key,
            secret=secret,
            expiration=api_key.expiration,
            status=api_key.status,
            tag=api_key.tag,
            profile_id=profile.id,
        ),
    )
