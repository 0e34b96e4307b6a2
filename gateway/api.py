"""Identity endpoints served by the gateway itself."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.responses import JSONResponse

from gateway import identity
from gateway.schemas import (
    ClientCreate,
    ClientCreated,
    Me,
    OAuthError,
    TokenResponse,
    UserCreate,
    UserOut,
)
from kernel.auth import Principal, Role, authenticate, require
from kernel.errors import problem_responses
from kernel.jwt import jwks_document
from kernel.routing import Idempotent, Session, TransactionalRoute
from kernel.schemas import unstorable

router = APIRouter(prefix="/auth", tags=["identity"], route_class=TransactionalRoute)
wellknown = APIRouter(tags=["identity"])

Admin = Annotated[Principal, Depends(require(Role.PROVINCE_ADMIN))]


def _oauth_error(
    status_code: int, error: str, description: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status_code, headers=headers
    )


@router.post(
    "/token",
    operation_id="issue_token",
    summary="OAuth2 token endpoint (password or client_credentials grant)",
    response_model=TokenResponse,
    responses={400: {"model": OAuthError}, 401: {"model": OAuthError}, 429: {"model": OAuthError}},
    openapi_extra={"x-public": True},
)
async def issue_token(
    request: Request,
    session: Session,
    grant_type: Annotated[str, Form()],
    username: Annotated[str | None, Form(max_length=100)] = None,
    password: Annotated[str | None, Form(max_length=200)] = None,
    client_id: Annotated[str | None, Form(max_length=64)] = None,
    client_secret: Annotated[str | None, Form(max_length=200)] = None,
    scope: Annotated[str | None, Form(max_length=200)] = None,
) -> JSONResponse:
    state = request.app.state
    settings = state.settings
    ip = request.client.host if request.client else "unknown"
    if grant_type == "password":
        if not username or password is None:
            return _oauth_error(400, "invalid_request", "username and password are required")
        subject_key = f"user:{username}"
    elif grant_type == "client_credentials":
        if not client_id or client_secret is None:
            return _oauth_error(400, "invalid_request", "client_id and client_secret are required")
        subject_key = f"client:{client_id}"
    else:
        return _oauth_error(400, "unsupported_grant_type", "use password or client_credentials")

    throttle, ip_throttle = state.login_throttle, state.ip_throttle
    wait = max(throttle.retry_after(subject_key), ip_throttle.retry_after(ip))
    if wait:
        return _oauth_error(
            429, "too_many_requests", "too many failed attempts; wait", {"Retry-After": str(wait)}
        )

    if grant_type == "password":
        assert username is not None and password is not None
        # no account holds text the database cannot store (PostgreSQL refuses NUL)
        user = (
            None
            if unstorable(username)
            else await identity.authenticate_user(session, username, password)
        )
        if user is None:
            throttle.fail(subject_key)
            ip_throttle.fail(ip)
            return _oauth_error(401, "invalid_grant", "wrong username or password")
        subject, roles, region = user.username, list(user.roles), user.region
    else:
        assert client_id is not None and client_secret is not None
        client = (
            None
            if unstorable(client_id)
            else await identity.authenticate_client(session, client_id, client_secret)
        )
        if client is None:
            throttle.fail(subject_key)
            ip_throttle.fail(ip)
            return _oauth_error(401, "invalid_client", "unknown client or wrong secret")
        subject, roles, region = client.client_id, list(client.roles), client.region
    throttle.succeed(subject_key)
    ttl = settings.token_ttl_seconds
    token = identity.token_for(
        state.keyring,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        subject=subject,
        roles=roles,
        region=region,
        ttl=ttl,
    )
    return JSONResponse(
        TokenResponse(access_token=token, expires_in=ttl).model_dump(),
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


@router.get("/me", operation_id="who_am_i", response_model=Me)
async def who_am_i(principal: Annotated[Principal, Depends(authenticate)]) -> Me:
    return Me(sub=principal.sub, roles=sorted(principal.roles), region=principal.region)


@router.post(
    "/users",
    operation_id="create_user",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses=problem_responses(409),
    dependencies=[Idempotent],
)
async def create_user(body: UserCreate, principal: Admin, session: Session) -> UserOut:
    identity.check_grant(principal, body.roles, body.region)
    user = await identity.create_user(
        session,
        username=body.username,
        password=body.password,
        roles=[str(r) for r in body.roles],
        region=body.region,
        created_by=principal.sub,
    )
    return UserOut(
        id=user.id, username=user.username, roles=user.roles, region=user.region, active=user.active
    )


@router.post(
    "/clients",
    operation_id="create_client",
    status_code=status.HTTP_201_CREATED,
    response_model=ClientCreated,
    dependencies=[Idempotent],
)
async def create_client(body: ClientCreate, principal: Admin, session: Session) -> ClientCreated:
    identity.check_grant(principal, body.roles, body.region)
    client, secret = await identity.create_client(
        session,
        name=body.name,
        roles=[str(r) for r in body.roles],
        region=body.region,
        created_by=principal.sub,
    )
    return ClientCreated(
        client_id=client.client_id,
        client_secret=secret,
        name=client.name,
        roles=client.roles,
        region=client.region,
    )


@wellknown.get(
    "/.well-known/jwks.json",
    operation_id="jwks",
    summary="Public signing keys",
    openapi_extra={"x-public": True},
)
async def jwks(request: Request) -> JSONResponse:
    return JSONResponse(
        jwks_document(request.app.state.keyring.published),
        headers={"Cache-Control": "public, max-age=300"},
    )
