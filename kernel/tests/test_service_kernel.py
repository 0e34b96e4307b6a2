"""The kernel inside a running app: the single commit point, rollback on error,
Idempotency-Key, cursor pagination, ETag / If-Match, problems, health and metrics.
The schema is the gateway's (built by its migrations): it holds the kernel tables
and a `users` table to exercise."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, File, Request, Response, UploadFile
from pydantic import BaseModel
from sqlalchemy import func, select

from gateway.models import KERNEL_TABLES, User
from kernel.app import ServiceSpec, create_service_app
from kernel.auth import Principal, require
from kernel.concurrency import check_if_match, etag_for, set_etag
from kernel.errors import Conflict, NotFound, problem_responses
from kernel.jwt import SigningKey, sign, unverified_claims
from kernel.pagination import Page, PageParams, keyset, page_of, page_params
from kernel.routing import Idempotent, Session, TransactionalRoute
from kernel.schemas import StrictModel
from kernel.settings import ProcessSettings
from kernel.testing import TestIssuer, api_client, rolled_back, running_service, scratch_database

MIGRATIONS = Path(__file__).resolve().parents[2] / "gateway" / "migrations"

router = APIRouter(prefix="/api/v1/k", route_class=TransactionalRoute)
Writer = Annotated[Principal, Depends(require("county_admin"))]


class NewUser(StrictModel):
    username: str
    region: str = "371327"


class UserView(BaseModel):
    id: int
    username: str
    region: str


@router.post("/users", status_code=201, dependencies=[Idempotent], responses=problem_responses(409))
async def create(body: NewUser, who: Writer, session: Session) -> UserView:
    user = User(
        username=body.username, password_hash="x", roles=[], region=body.region, created_by=who.sub
    )
    session.add(user)
    await session.flush()
    if body.username.startswith("boom"):
        raise Conflict("refused after the row was written", code="boom")
    return UserView(id=user.id, username=user.username, region=user.region)


@router.get("/users")
async def listing(
    who: Writer, session: Session, params: Annotated[PageParams, Depends(page_params)]
) -> Page[UserView]:
    stmt = keyset(select(User).where(who.region_filter(User.region)), User.id, params)
    rows = list((await session.execute(stmt)).scalars())
    rows, cursor = page_of(rows, params, key=lambda u: u.id)
    return Page(
        items=[UserView(id=u.id, username=u.username, region=u.region) for u in rows],
        next_cursor=cursor,
    )


class Uploaded(BaseModel):
    filename: str
    size: int


@router.post("/uploads", status_code=201, dependencies=[Idempotent])
async def upload(file: Annotated[UploadFile, File()], who: Writer) -> Uploaded:
    content = await file.read()
    return Uploaded(filename=file.filename or "", size=len(content))


class Rename(StrictModel):
    username: str


@router.patch("/users/{user_id}")
async def rename(
    user_id: int, body: Rename, request: Request, response: Response, who: Writer, session: Session
) -> UserView:
    user = await session.get(User, user_id)
    if user is None or not who.sees(user.region):
        raise NotFound("user not found")
    check_if_match(request, etag_for("user", user.id, len(user.username)))
    user.username = body.username
    await session.flush()
    set_etag(response, etag_for("user", user.id, len(user.username)))
    return UserView(id=user.id, username=user.username, region=user.region)


@pytest.fixture(scope="module")
async def app(issuer: TestIssuer) -> AsyncIterator[object]:
    async with scratch_database("kernel", MIGRATIONS) as url:
        settings = ProcessSettings(service_name="kerneltest", database_url=url)

        def factory(s: ProcessSettings) -> object:
            return create_service_app(
                ServiceSpec(
                    name="kerneltest",
                    title="t",
                    version="1",
                    settings=s,
                    routers=[router],
                    kernel_tables=KERNEL_TABLES,
                    api_prefix="/api/v1/k",
                )
            )

        async with running_service(factory, settings, issuer) as running:
            yield running


@pytest.fixture
async def client(app: object) -> AsyncIterator[object]:
    async with rolled_back(app), api_client(app) as c:  # type: ignore[arg-type]
        yield c


async def _count(app: object) -> int:
    async with app.state.db.session() as s:  # type: ignore[attr-defined]
        return int((await s.execute(select(func.count()).select_from(User))).scalar() or 0)


async def test_commit_and_rollback_on_domain_error(client, app, issuer) -> None:
    h = issuer.headers("county_admin", region="371327")
    before = await _count(app)
    r = await client.post("/api/v1/k/users", json={"username": "kept"}, headers=h)
    assert r.status_code == 201
    r = await client.post("/api/v1/k/users", json={"username": "boom1"}, headers=h)
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "boom"
    assert await _count(app) == before + 1  # the refused write left nothing behind


async def test_integrity_error_becomes_409(client, issuer) -> None:
    h = issuer.headers("county_admin", region="371327")
    assert (
        await client.post("/api/v1/k/users", json={"username": "dup"}, headers=h)
    ).status_code == 201
    r = await client.post("/api/v1/k/users", json={"username": "dup"}, headers=h)
    assert r.status_code == 409 and r.json()["code"] == "integrity_conflict"


async def test_idempotency_key_replays_and_refuses_other_body(client, app, issuer) -> None:
    h = {**issuer.headers("county_admin", region="371327"), "Idempotency-Key": "k-1"}
    first = await client.post("/api/v1/k/users", json={"username": "idem"}, headers=h)
    again = await client.post("/api/v1/k/users", json={"username": "idem"}, headers=h)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers.get("idempotent-replayed") == "true"
    other = await client.post("/api/v1/k/users", json={"username": "other"}, headers=h)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    # the key belongs to its subject: someone else may use the same key
    h2 = {
        **issuer.headers("county_admin", region="371327", sub="someone"),
        "Idempotency-Key": "k-1",
    }
    assert (
        await client.post("/api/v1/k/users", json={"username": "idem2"}, headers=h2)
    ).status_code == 201


async def test_idempotency_key_compares_json_bodies_in_canonical_form(client, app, issuer) -> None:
    """The same JSON re-serialised (white space, key order, escapes, 1.50 for 1.5) is
    the same body and is replayed; another value is still refused."""
    h = {
        **issuer.headers("county_admin", region="371327"),
        "Idempotency-Key": "canon-1",
        "content-type": "application/json",
    }
    first = await client.post(
        "/api/v1/k/users", content=b'{"username":"canon","region":"371327"}', headers=h
    )
    assert first.status_code == 201, first.text
    for body in (
        b'{ "region" : "371327",\n  "username" : "canon" }\n',
        b'{"region":"\\u0033\\u0037\\u0031\\u0033\\u0032\\u0037","username":"canon"}',
    ):
        again = await client.post("/api/v1/k/users", content=body, headers=h)
        assert again.status_code == 201, again.text
        assert again.headers.get("idempotent-replayed") == "true"
        assert again.json() == first.json()
    # a charset parameter or a +json type is still JSON
    for kind in ("application/json; charset=utf-8", "application/merge-patch+json"):
        h["content-type"] = kind
        again = await client.post(
            "/api/v1/k/users", content=b'{"region": "371327", "username": "canon"}', headers=h
        )
        assert again.headers.get("idempotent-replayed") == "true"
    other = await client.post(
        "/api/v1/k/users", content=b'{"region": "371327", "username": "Canon"}', headers=h
    )
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    async with app.state.db.session() as s:
        rows = (
            await s.execute(
                select(func.count()).where(KERNEL_TABLES.idempotency.c.key == "canon-1")
            )
        ).scalar()
    assert rows == 1


async def test_idempotency_key_stored_before_canonical_json_still_replays(
    client, app, issuer
) -> None:
    """A key stored by the previous release holds the byte-for-byte fingerprint: the
    same bytes sent again after the upgrade are still replayed, not refused."""
    import hashlib

    body = b'{"username": "legacy"}'
    h = {
        **issuer.headers("county_admin", region="371327"),
        "Idempotency-Key": "legacy-1",
        "content-type": "application/json",
    }
    first = await client.post("/api/v1/k/users", content=body, headers=h)
    assert first.status_code == 201
    raw = hashlib.sha256(b"POST /api/v1/k/users?\n" + body).hexdigest()
    table = KERNEL_TABLES.idempotency
    async with app.state.db.transaction() as s:
        await s.execute(table.update().where(table.c.key == "legacy-1").values(fingerprint=raw))
    again = await client.post("/api/v1/k/users", content=body, headers=h)
    assert again.status_code == 201 and again.headers.get("idempotent-replayed") == "true"
    other = await client.post("/api/v1/k/users", content=b'{"username":"legacy2"}', headers=h)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"


def test_canonical_json() -> None:
    from kernel.idempotency import canonical_json

    same = [b'{"b": [1.50, "\\u00e9"], "a": 1}', '{"a":1,"b":[15e-1,"\u00e9"]}'.encode()]
    assert (
        canonical_json(same[0])
        == canonical_json(same[1])
        == '{"a":1,"b":[15e-1,"\u00e9"]}'.encode()
    )
    assert canonical_json(b"1") != canonical_json(b"1.0")  # an integer is not a fraction
    assert canonical_json(b"100.0") == canonical_json(b"1e2")
    # exact beyond float and Decimal context precision
    assert canonical_json(b"0.10000000000000000000000000000001") != canonical_json(b"0.1")
    big = b"123456789012345678901234567890123456789.5"
    assert canonical_json(big) != canonical_json(big.replace(b"9.5", b"8.5"))
    for not_json in (b"", b"  ", b"a=1", b"{", b"NaN", b'{"a": Infinity}', b"\xff\xfe"):
        assert canonical_json(not_json) is None


async def test_idempotency_key_on_a_multipart_upload(client, issuer) -> None:
    """The fingerprint reads the raw body, which the form parser would otherwise have
    consumed (found by the API fuzz: a 500 "Stream consumed")."""
    h = {**issuer.headers("county_admin", region="371327"), "Idempotency-Key": "up-1"}
    first = await client.post("/api/v1/k/uploads", files={"file": ("a.csv", b"a,b\n")}, headers=h)
    assert first.status_code == 201 and first.json() == {"filename": "a.csv", "size": 4}
    again = await client.post("/api/v1/k/uploads", files={"file": ("a.csv", b"a,b\n")}, headers=h)
    assert again.status_code == 201 and again.headers.get("idempotent-replayed") == "true"
    other = await client.post("/api/v1/k/uploads", files={"file": ("a.csv", b"x,y\n")}, headers=h)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    h["Idempotency-Key"] = "up-2"
    missing = await client.post("/api/v1/k/uploads", data={"other": "1"}, headers=h)
    assert missing.status_code == 422 and missing.json()["code"] == "validation_error"


async def test_pagination_and_jurisdiction(client, issuer) -> None:
    h = issuer.headers("county_admin", region="371327")
    for i in range(5):
        await client.post("/api/v1/k/users", json={"username": f"p{i}"}, headers=h)
    await client.post(
        "/api/v1/k/users",
        json={"username": "elsewhere", "region": "371328"},
        headers=issuer.headers("county_admin", region="371328"),
    )
    seen, cursor = [], None
    for _ in range(10):
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/k/users", params=params, headers=h)).json()
        seen += [u["username"] for u in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [s for s in seen if s.startswith("p")] == [f"p{i}" for i in range(5)]
    assert "elsewhere" not in seen
    assert (
        await client.get("/api/v1/k/users", params={"limit": 501}, headers=h)
    ).status_code == 422
    bad = await client.get("/api/v1/k/users", params={"cursor": "@@"}, headers=h)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_cursor"


async def test_if_match(client, issuer) -> None:
    h = issuer.headers("county_admin", region="371327")
    uid = (await client.post("/api/v1/k/users", json={"username": "etag"}, headers=h)).json()["id"]
    current = etag_for("user", uid, 4)
    r = await client.patch(
        f"/api/v1/k/users/{uid}", json={"username": "etag22"}, headers={**h, "If-Match": current}
    )
    assert r.status_code == 200
    stale = await client.patch(
        f"/api/v1/k/users/{uid}", json={"username": "etag333"}, headers={**h, "If-Match": current}
    )
    assert stale.status_code == 412 and stale.json()["code"] == "etag_mismatch"


async def test_validation_and_auth_problems(client, issuer) -> None:
    h = issuer.headers("county_admin", region="371327")
    r = await client.post("/api/v1/k/users", json={"username": "x", "is_admin": True}, headers=h)
    assert r.status_code == 422 and r.json()["code"] == "unknown_field"
    assert r.json()["errors"][0]["loc"] == ["body", "is_admin"]
    assert (await client.post("/api/v1/k/users", json={"username": "x"})).status_code == 401
    r = await client.post(
        "/api/v1/k/users", json={"username": "x"}, headers=issuer.headers("auditor")
    )
    assert r.status_code == 403 and r.json()["code"] == "role_not_allowed"
    r = await client.post(
        "/api/v1/k/users", content=b"{not json", headers={**h, "content-type": "application/json"}
    )
    assert r.status_code == 422
    r = await client.patch("/api/v1/k/users/999999", json={"username": "y"}, headers=h)
    assert r.status_code == 404


async def test_a_forged_token_sent_straight_to_the_service_is_refused(client, issuer) -> None:
    """A caller bypassing the gateway: the service verifies the token itself and trusts only
    its issuer's keys, whatever the token claims about itself."""
    assert (
        await client.get("/api/v1/k/users", headers=issuer.headers("county_admin"))
    ).status_code == 200
    forger = TestIssuer()  # same issuer name and audience, a key the service does not trust
    own_kid = forger.token("system_admin")
    claims = unverified_claims(own_kid)
    trusted_kid = sign(
        claims, SigningKey(issuer.key.kid, forger.key.alg, forger.key.key, forger.key.public)
    )
    for forged in (own_kid, trusted_kid):
        r = await client.get("/api/v1/k/users", headers={"Authorization": f"Bearer {forged}"})
        assert r.status_code == 401, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["status"] == 401
        assert "bearer" in r.headers.get("www-authenticate", "").lower()


async def test_text_a_database_cannot_store_is_refused(client, issuer) -> None:
    """PostgreSQL text cannot hold NUL: a NUL in a body, a path or a query is a 4xx before
    it reaches the driver (found by the API fuzz on PostgreSQL, where it was a 500)."""
    h = issuer.headers("county_admin", region="371327")
    for name in ("nul\u0000", "张\u0000三"):  # ASCII text and other text are looked at apart
        r = await client.post("/api/v1/k/users", json={"username": name}, headers=h)
        assert r.status_code == 422 and r.json()["errors"][0]["type"] == "string_unstorable"
    raw = b'{"username": "half \\ud800"}'  # a lone surrogate, as JSON may spell one
    r = await client.post(
        "/api/v1/k/users", content=raw, headers={**h, "content-type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["type"] == "string_unstorable"
    r = await client.get("/api/v1/k/users", params={"cursor": "a\x00"}, headers=h)
    assert r.status_code == 400 and r.json()["code"] == "nul_character"
    r = await client.patch("/api/v1/k/users/1%00", json={"username": "x"}, headers=h)
    assert r.status_code == 400 and r.json()["code"] == "nul_character"


async def test_health_and_metrics(client) -> None:
    assert (await client.get("/livez")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"]["status"] == "ok"
    await client.get("/api/v1/k/users")
    metrics = (await client.get("/metrics")).text
    assert 'auxpol_http_requests_total{method="GET",route="/api/v1/k/users"' in metrics.replace(
        'service="kerneltest",', ""
    )


async def test_openapi_declares_problems(app) -> None:
    spec = app.openapi()  # type: ignore[attr-defined]
    op = spec["paths"]["/api/v1/k/users"]["post"]
    assert op["operationId"] == "create"
    for code in ("401", "403", "409", "422"):
        assert "application/problem+json" in op["responses"][code]["content"]
    assert "Problem" in spec["components"]["schemas"]


async def test_a_database_that_refuses_connections_answers_503(issuer) -> None:
    """PostgreSQL down or restarting: a 503 problem with Retry-After, not a 500 (the
    driver's refused connection reached the handler unwrapped). Found by the
    PostgreSQL-restart fault drill."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens here once the socket is closed
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/gone"
    settings = ProcessSettings(service_name="kerneltest", database_url=url)

    def factory(s: ProcessSettings) -> object:
        return create_service_app(
            ServiceSpec(
                name="kerneltest",
                title="t",
                version="1",
                settings=s,
                routers=[router],
                kernel_tables=KERNEL_TABLES,
                api_prefix="/api/v1/k",
            )
        )

    h = issuer.headers("county_admin", region="371327")
    async with running_service(factory, settings, issuer) as down, api_client(down) as c:
        for method, body in (("GET", None), ("POST", {"username": "x"})):
            r = await c.request(method, "/api/v1/k/users", json=body, headers=h)
            assert r.status_code == 503, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["code"] == "database_unavailable"
            assert r.headers["retry-after"] == "5"
        assert (await c.get("/readyz")).status_code == 503


def test_database_errors_that_mean_try_again_are_503() -> None:
    """Connection refused (PostgreSQL restarting) and a pool whose connections all stayed
    busy for its timeout (overload; found by `make load` on a saturated machine) are 503
    problems with Retry-After; a conflict stays 409 and anything else a 500."""
    from sqlalchemy.exc import IntegrityError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from kernel.errors import UpstreamUnavailable
    from kernel.routing import translate_database_error

    for exc, code in (
        (ConnectionRefusedError(111, "Connection refused"), "database_unavailable"),
        (OSError("Multiple exceptions: [Errno 111] Connect call failed"), "database_unavailable"),
        (PoolTimeout("QueuePool limit of size 10 overflow 10 reached"), "database_busy"),
    ):
        translated = translate_database_error(exc)
        assert isinstance(translated, UpstreamUnavailable) and translated.status == 503
        assert translated.code == code and translated.extra["headers"] == {"Retry-After": "5"}
    conflict = translate_database_error(IntegrityError("INSERT", {}, Exception("dup")))
    assert conflict is not None and conflict.status == 409
    assert translate_database_error(ValueError("a bug")) is None
    assert translate_database_error(OSError(2, "No such file or directory")) is None
