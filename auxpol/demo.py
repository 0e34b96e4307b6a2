"""The demo dataset, loaded through the gateway's public API as a county front-end
would load it: demo users first, then each service's `demo.load(api)`."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import httpx

DEMO_PASSWORD = "auxpol-demo"


@dataclass(frozen=True)
class DemoUser:
    username: str
    roles: tuple[str, ...]
    region: str
    who: str


# Shandong (37) › Linyi (3713) › Junan County (371327), Fei County (371325).
DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("sd_admin", ("province_admin",), "37", "Shandong provincial bureau"),
    DemoUser("linyi_admin", ("province_admin",), "3713", "Linyi city bureau"),
    DemoUser("sd_auditor", ("auditor",), "37", "provincial reporting (read-only)"),
    DemoUser("junan_admin", ("county_admin",), "371327", "Junan political department"),
    DemoUser("junan_recruiter", ("recruiter",), "371327", "Junan recruitment office"),
    DemoUser("junan_finance", ("finance_officer",), "371327", "Junan finance"),
    DemoUser("junan_station", ("unit_manager",), "371327001", "Shizilu street police station"),
    DemoUser("feixian_admin", ("county_admin",), "371325", "Fei County political department"),
)


class DemoError(RuntimeError):
    pass


class DemoClient:
    """Calls the gateway as one demo user or another; raises on any error answer."""

    def __init__(self, http: httpx.AsyncClient, admin_password: str) -> None:
        self.http = http
        self.admin_password = admin_password
        self._tokens: dict[str, str] = {}

    async def token(self, username: str) -> str:
        if username not in self._tokens:
            password = self.admin_password if username == "admin" else DEMO_PASSWORD
            response = await self.http.post(
                "/auth/token",
                data={"grant_type": "password", "username": username, "password": password},
            )
            if response.status_code != 200:
                raise DemoError(f"cannot log in as {username}: {response.text}")
            self._tokens[username] = response.json()["access_token"]
        return self._tokens[username]

    async def request(
        self,
        user: str,
        method: str,
        path: str,
        *,
        ok: tuple[int, ...] = (200, 201, 202),
        **kwargs: Any,
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        headers["Authorization"] = f"Bearer {await self.token(user)}"
        response = await self.http.request(method, path, headers=headers, **kwargs)
        if response.status_code not in ok:
            raise DemoError(f"{method} {path} as {user}: {response.status_code} {response.text}")
        return response

    async def get(self, user: str, path: str, **kw: Any) -> Any:
        return (await self.request(user, "GET", path, **kw)).json()

    async def post(self, user: str, path: str, json: Any = None, **kw: Any) -> Any:
        response = await self.request(user, "POST", path, json=json, **kw)
        return response.json() if response.content else None

    async def put(self, user: str, path: str, json: Any = None, **kw: Any) -> Any:
        return (await self.request(user, "PUT", path, json=json, **kw)).json()


async def create_demo_users(api: DemoClient) -> None:
    for user in DEMO_USERS:
        await api.request(
            "admin",
            "POST",
            "/auth/users",
            ok=(201, 409),
            json={
                "username": user.username,
                "password": DEMO_PASSWORD,
                "roles": list(user.roles),
                "region": user.region,
            },
        )


SERVICE_DEMOS = ("services.roster.demo", "services.recruitment.demo", "services.compensation.demo")


async def load_all(base_url: str, admin_password: str, *, echo: Any = print) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        api = DemoClient(http, admin_password)
        await create_demo_users(api)
        echo(f"demo users created ({len(DEMO_USERS)})")
        for module_name in SERVICE_DEMOS:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError:
                continue
            await module.load(api)
            echo(f"demo data loaded: {module_name.split('.')[1]}")
