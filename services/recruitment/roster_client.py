"""Calls to the roster.

- Reserving seats at plan approval is synchronous and made with the approving
  administrator's own token (forwarded Authorization header).
- Hires and seat releases are outbox events; `RosterDelivery` is the relay's handler
  for them and calls with this service's own client credentials. The roster is an
  idempotent receiver (`external_reference`, Idempotency-Key, reservation reference).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from kernel.errors import UpstreamUnavailable
from kernel.outbox import Handler, PermanentFailure
from kernel.service_client import ServiceTokenProvider
from services.common.resident_id import redact_id_numbers
from services.recruitment import clock
from services.recruitment.config import RecruitmentSettings
from services.recruitment.errors import QuotaExceeded, RosterRefused, RosterUnavailable
from services.recruitment.events import TOPIC_HIRE, TOPIC_RELEASE, Event, record
from services.recruitment.models import Application, table_of

log = logging.getLogger("auxpol.recruitment.roster")

RELAY_ACTOR = "recruitment-relay"
_CONFIRM_DELAY_SECONDS = 0.5


def roster_api(settings: RecruitmentSettings) -> str:
    return settings.roster_url.rstrip("/") + "/api/v1/roster"


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def reserve_seats(
    app: FastAPI, authorization: str, region: str, seats: int, reference: str
) -> dict[str, Any]:
    """Reserve `seats` in `region` for a plan; idempotent on `reference`."""
    settings: RecruitmentSettings = app.state.settings
    http: httpx.AsyncClient = app.state.http
    try:
        response = await http.post(
            roster_api(settings) + "/quota-reservations",
            json={"region": region, "seats": seats, "reference": reference},
            headers={"Authorization": authorization},
        )
    except httpx.HTTPError as exc:
        raise RosterUnavailable("the roster is unreachable; the plan stays submitted") from exc
    if response.status_code in (200, 201):
        body = response.json()
        if not isinstance(body, dict) or "id" not in body:
            raise RosterUnavailable("the roster answered the reservation without an id")
        return body
    problem = _problem(response)
    detail = str(problem.get("detail") or response.reason_phrase or "")
    if response.status_code == 409 and problem.get("code") == "quota_exceeded":
        raise QuotaExceeded(f"the roster has no room for {seats} seat(s) in {region}: {detail}")
    if response.status_code >= 500 or response.status_code == 429:
        raise RosterUnavailable(f"the roster answered {response.status_code}; try again")
    raise RosterRefused(
        f"the roster refused the reservation ({response.status_code}"
        f" {problem.get('code', '')}): {detail}",
        roster_status=response.status_code,
        roster_code=problem.get("code"),
    )


class RosterDelivery:
    """The relay's handlers for `roster.hire` and `roster.release_reservation`."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._tokens: ServiceTokenProvider | None = None

    @property
    def settings(self) -> RecruitmentSettings:
        settings: RecruitmentSettings = self.app.state.settings
        return settings

    def tokens(self) -> ServiceTokenProvider:
        if self._tokens is None:
            s = self.settings
            self._tokens = ServiceTokenProvider(
                self.app.state.http, s.token_url, s.client_id, s.client_secret
            )
        return self._tokens

    def handlers(self) -> dict[str, Handler]:
        return {TOPIC_HIRE: self.hire, TOPIC_RELEASE: self.release}

    async def _post(
        self, url: str, body: dict[str, Any] | None, idempotency_key: str | None
    ) -> httpx.Response:
        headers = await self.tokens().headers()  # UpstreamUnavailable: retried
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        http: httpx.AsyncClient = self.app.state.http
        response = await http.post(url, json=body, headers=headers)
        if response.status_code == 401:
            # a rotated key or an expired token: fetch a new one on the next attempt
            self._tokens = None
            raise UpstreamUnavailable("the roster refused the service token; retrying")
        return response

    async def hire(self, event_id: str, payload: dict[str, Any]) -> None:
        application_id = int(payload["application_id"])
        url = roster_api(self.settings) + "/personnel"
        response = await self._post(url, payload["person"], event_id)
        problem = _problem(response)
        if response.status_code == 409 and problem.get("code") not in (
            "quota_exceeded",
            "integrity_conflict",
        ):
            # A duplicate may be this very hire, delivered concurrently (a lease that ran
            # out): asked again, the roster answers with the person it holds under our
            # external_reference. A second refusal is a real conflict.
            await asyncio.sleep(_CONFIRM_DELAY_SECONDS)
            response = await self._post(url, payload["person"], event_id)
            problem = _problem(response)
        status = response.status_code
        if status in (200, 201):
            person_id = problem.get("id")
            if person_id is None:
                raise RuntimeError("the roster took the hire but answered without an id")
            await self._delivered(application_id, payload, str(person_id))
            return
        if status >= 500 or status == 429 or problem.get("code") == "integrity_conflict":
            raise RuntimeError(f"the roster answered {status}; retrying")
        reason = redact_id_numbers(
            f"the roster refused the hire: {status} {problem.get('code', '')}"
            f" {problem.get('detail', '')}".strip()
        )[:1000]
        await self._failed(application_id, payload, reason)
        raise PermanentFailure(reason)

    async def _delivered(self, application_id: int, payload: dict[str, Any], person: str) -> None:
        table = table_of(Application)
        async with self.app.state.db.transaction() as session:
            result = await session.execute(
                update(table)
                .where(table.c.id == application_id, table.c.hire_state != "delivered")
                .values(
                    hire_state="delivered",
                    roster_person_id=person,
                    hire_error=None,
                    version=table.c.version + 1,
                )
            )
            if result.rowcount:
                await record(
                    session,
                    [
                        Event(
                            application_id,
                            int(payload["campaign_id"]),
                            clock.now(),
                            RELAY_ACTOR,
                            "hire_delivered",
                            reason=f"on the roster as person {person}",
                            data={"roster_person_id": person},
                        )
                    ],
                )

    async def _failed(self, application_id: int, payload: dict[str, Any], reason: str) -> None:
        table = table_of(Application)
        async with self.app.state.db.transaction() as session:
            await session.execute(
                update(table)
                .where(table.c.id == application_id, table.c.hire_state != "delivered")
                .values(hire_state="failed", hire_error=reason, version=table.c.version + 1)
            )
            await record(
                session,
                [
                    Event(
                        application_id,
                        int(payload["campaign_id"]),
                        clock.now(),
                        RELAY_ACTOR,
                        "hire_failed",
                        reason=reason,
                    )
                ],
            )
        log.warning(
            "hire refused by the roster",
            extra={"application_id": application_id, "campaign_id": payload["campaign_id"]},
        )

    async def release(self, event_id: str, payload: dict[str, Any]) -> None:
        url = roster_api(self.settings) + f"/quota-reservations/{payload['reservation_id']}/release"
        response = await self._post(url, None, event_id)
        status = response.status_code
        if status in (200, 201, 202, 204, 409):
            return  # released now or before (409: nothing left to release)
        if status >= 500 or status == 429:
            raise RuntimeError(f"the roster answered {status}; retrying")
        problem = _problem(response)
        raise PermanentFailure(
            f"the roster refused the release: {status} {problem.get('code', '')}".strip()
        )
