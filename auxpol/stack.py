"""`make run`: the gateway and the three services as separate processes under
honcho, on SQLite files in $AUXPOL_DATA_DIR, with the demo dataset on first start."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import httpx
from honcho.manager import Manager

from auxpol.demo import DEMO_PASSWORD, DEMO_USERS, load_all
from auxpol.processes import PROCESSES
from kernel.migrations import upgrade

DEFAULT_PORTS = {"gateway": 8000, "roster": 8001, "recruitment": 8002, "compensation": 8003}
SECRET_NAMES = (
    "AUXPOL_ROSTER_CLIENT_SECRET",
    "AUXPOL_RECRUITMENT_CLIENT_SECRET",
    "AUXPOL_COMPENSATION_CLIENT_SECRET",
)


def stack_environment(data_dir: Path, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Ports, URLs and internal secrets for one stack; secrets persist in the data dir."""
    env: dict[str, str] = {
        "AUXPOL_PROFILE": environ.get("AUXPOL_PROFILE", "demo"),
        "AUXPOL_DATA_DIR": str(data_dir),
    }
    for name, default in DEFAULT_PORTS.items():
        port = environ.get(f"AUXPOL_{name.upper()}_PORT", str(default))
        env[f"AUXPOL_{name.upper()}_PORT"] = port
        env[f"AUXPOL_{name.upper()}_URL"] = f"http://127.0.0.1:{port}"
    secrets_file = data_dir / "internal-secrets.env"
    stored: dict[str, str] = {}
    if secrets_file.exists():
        for line in secrets_file.read_text().splitlines():
            key, _, value = line.partition("=")
            stored[key] = value
    for name in SECRET_NAMES:
        stored.setdefault(name, environ.get(name) or secrets.token_urlsafe(24))
    secrets_file.write_text("".join(f"{k}={v}\n" for k, v in stored.items()))
    secrets_file.chmod(0o600)
    env.update(stored)
    return env


def migrate_all(env: dict[str, str]) -> None:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        for proc in PROCESSES.values():
            upgrade(proc.migrations, proc.load_settings().database_url)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def wait_ready(gateway_url: str, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ready = httpx.get(gateway_url + "/readyz", timeout=2).json()
            if not ready["checks"]["services"]["degraded"]:
                return True
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        time.sleep(0.3)
    return False


def banner(env: dict[str, str], admin_password: str, demo_loaded: bool = True) -> str:
    """What `make run` prints once the stack is ready; the demo users only when the demo
    dataset is in the databases (they do not exist otherwise)."""
    url = env["AUXPOL_GATEWAY_URL"]
    lines = [
        "",
        "auxpol is running",
        f"  gateway       {url}   (API docs: {url}/docs)",
        f"  roster        {env['AUXPOL_ROSTER_URL']}",
        f"  recruitment   {env['AUXPOL_RECRUITMENT_URL']}",
        f"  compensation  {env['AUXPOL_COMPENSATION_URL']}",
        f"  data          {env['AUXPOL_DATA_DIR']}",
        "",
        "demo users (password for all but admin: " + DEMO_PASSWORD + ")"
        if demo_loaded
        else "users (no demo dataset: AUXPOL_DEMO=0, or it failed to load)",
        f"  {'admin':<16} system_admin      (national)  password: {admin_password}",
    ]
    for user in DEMO_USERS if demo_loaded else ():
        lines.append(
            f"  {user.username:<16} {','.join(user.roles):<17} {user.region:<10}  {user.who}"
        )
    lines.append("")
    lines.append("Ctrl-C stops every process.")
    return "\n".join(lines)


def run() -> int:
    data_dir = Path(os.environ.get("AUXPOL_DATA_DIR", "data")).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = stack_environment(data_dir)
    admin_password = os.environ.get("AUXPOL_ADMIN_PASSWORD", "")
    if not admin_password and env["AUXPOL_PROFILE"] == "demo":
        from gateway.config import DEMO_ADMIN_PASSWORD

        admin_password = DEMO_ADMIN_PASSWORD
    print(f"applying migrations in {data_dir} ...", flush=True)
    migrate_all(env)

    manager = Manager()
    child_env = {**os.environ, **env}
    for name in PROCESSES:
        manager.add_process(name, f"{sys.executable} -m auxpol.cli serve {name}", env=child_env)

    def after_start() -> None:
        if not wait_ready(env["AUXPOL_GATEWAY_URL"]):
            print("the stack did not become ready within 60 s", flush=True)
            return
        marker = data_dir / ".demo-loaded"
        if os.environ.get("AUXPOL_DEMO", "1") != "0" and not marker.exists():
            print("loading the demo dataset ...", flush=True)
            try:
                asyncio.run(load_all(env["AUXPOL_GATEWAY_URL"], admin_password))
                marker.write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))
            except Exception as exc:  # report and keep serving
                print(f"demo dataset failed: {exc}", flush=True)
        print(banner(env, admin_password, demo_loaded=marker.exists()), flush=True)

    threading.Thread(target=after_start, daemon=True).start()
    manager.loop()
    return int(manager.returncode or 0)
