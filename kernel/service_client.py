"""Calls from one auxpol service to another, with the caller's own client
credentials (role `service`), obtained from the gateway's token endpoint and
cached until shortly before they expire."""

from __future__ import annotations

import asyncio
import time

import httpx

from kernel.errors import UpstreamUnavailable


class ServiceTokenProvider:
    def __init__(
        self, client: httpx.AsyncClient, token_url: str, client_id: str, client_secret: str
    ) -> None:
        self.client = client
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret and self.token_url)

    async def token(self) -> str:
        if self._token and time.monotonic() < self._expires_at - 60:
            return self._token
        async with self._lock:
            if self._token and time.monotonic() < self._expires_at - 60:
                return self._token
            if not self.configured:
                raise UpstreamUnavailable(
                    "service credentials are not configured", code="service_credentials_missing"
                )
            try:
                response = await self.client.post(
                    self.token_url,
                    data={
                        "grant_type": "client_credentials",
                        "client_id": self.client_id,
                        "client_secret": self.client_secret,
                    },
                )
            except httpx.HTTPError as exc:
                raise UpstreamUnavailable("the token endpoint is unreachable") from exc
            if response.status_code != 200:
                raise UpstreamUnavailable(
                    f"the token endpoint refused the service credentials ({response.status_code})"
                )
            body = response.json()
            self._token = str(body["access_token"])
            self._expires_at = time.monotonic() + float(body.get("expires_in", 300))
            return self._token

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token()}"}
