"""Real processes for cross-service tests: `auxpol run` (what `make run` starts) on
free ports in a temporary data directory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("gateway", "roster", "recruitment", "compensation")


def free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def processes_with_marker(marker: str) -> list[int]:
    """Pids whose environment carries `marker` (our unique data directory)."""
    found = []
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except (OSError, PermissionError):
            continue
    return found


class Stack:
    """`separate=False` runs `auxpol run` (honcho, as `make run` does: one process
    dying stops them all). `separate=True` starts each process on its own, so that a
    fault drill can kill and restart one service while the others keep running."""

    def __init__(
        self,
        *,
        demo: bool = False,
        extra_env: dict[str, str] | None = None,
        database_urls: dict[str, str] | None = None,
        separate: bool = False,
    ) -> None:
        self.separate = separate
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.tmp = tempfile.TemporaryDirectory(prefix="auxpol-stack-")
        self.data_dir = Path(self.tmp.name)
        self.ports = {name: free_port() for name in NAMES}
        self.env = {
            **os.environ,
            "AUXPOL_DATA_DIR": str(self.data_dir),
            "AUXPOL_PROFILE": "demo",
            "AUXPOL_DEMO": "1" if demo else "0",
            "AUXPOL_LOG_LEVEL": "WARNING",
            "AUXPOL_OUTBOX_POLL_SECONDS": "0.2",
            **{f"AUXPOL_{n.upper()}_PORT": str(p) for n, p in self.ports.items()},
            **(extra_env or {}),
        }
        for name, url in (database_urls or {}).items():
            self.env[f"AUXPOL_{name.upper()}_DATABASE_URL"] = url
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir / "stack.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def service_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self, timeout: float = 90, wait_for: str = "ready") -> Stack:
        if self.separate:
            return self._start_separate(timeout)
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "auxpol.cli", "run"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the stack exited early:\n{self.log()}")
            if wait_for == "banner" and "auxpol is running" in self.log():
                return self
            if wait_for == "ready" and self._ready():
                return self
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"the stack did not become ready:\n{self.log()[-5000:]}")

    def _start_separate(self, timeout: float) -> Stack:
        from auxpol.stack import stack_environment

        self.env.update(stack_environment(self.data_dir, self.env))
        subprocess.run(
            [sys.executable, "-m", "auxpol.cli", "migrate", "all"],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
        )
        for name in NAMES:
            self.start_service(name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ready():
                return self
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"the stack did not become ready:\n{self.log()[-5000:]}")

    def start_service(self, name: str, wait: bool = False) -> None:
        log = (self.data_dir / f"{name}.log").open("ab")
        self.children[name] = subprocess.Popen(
            [sys.executable, "-m", "auxpol.cli", "serve", name],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if wait:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(self.service_url(name) + "/readyz", timeout=1).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            raise RuntimeError(f"{name} did not become ready")

    def stop_service(self, name: str, sig: int = signal.SIGTERM) -> None:
        child = self.children.pop(name)
        child.send_signal(sig)
        child.wait(timeout=20)

    def _ready(self) -> bool:
        try:
            body = httpx.get(self.url + "/readyz", timeout=2).json()
            return not body["checks"]["services"]["degraded"]
        except (httpx.HTTPError, KeyError, ValueError):
            return False

    def log(self) -> str:
        paths = [self.log_path] + [self.data_dir / f"{n}.log" for n in NAMES]
        return "".join(p.read_text(errors="replace") for p in paths if p.exists())

    def token(self, username: str = "admin", password: str = "auxpol-demo") -> str:
        r = httpx.post(
            self.url + "/auth/token",
            data={"grant_type": "password", "username": username, "password": password},
        )
        r.raise_for_status()
        return str(r.json()["access_token"])

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)

    def pid_of(self, name: str) -> int | None:
        for pid in processes_with_marker(str(self.data_dir)):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"serve" in cmd and name.encode() in cmd:
                return pid
        return None

    def kill_service(self, name: str, sig: int = signal.SIGKILL) -> None:
        pid = self.pid_of(name)
        if pid is None:
            raise RuntimeError(f"{name} is not running")
        os.kill(pid, sig)

    def stop(self, timeout: float = 20) -> int | None:
        for name in list(self.children):
            self.stop_service(name)
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode

    def leftovers(self) -> list[int]:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            left = processes_with_marker(str(self.data_dir))
            if not left:
                return []
            time.sleep(0.2)
        return processes_with_marker(str(self.data_dir))

    def close(self) -> None:
        self.stop()
        for pid in self.leftovers():
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.tmp.cleanup()


# --- databases for a stack ----------------------------------------------------------------


def admin_sql(base_url: str, statement: str) -> None:
    """Run one statement (CREATE/DROP DATABASE) on the PostgreSQL server of `base_url`."""
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(base_url)

    async def run() -> None:
        conn = await asyncpg.connect(
            user=url.username or "postgres",
            password=url.password,
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            database=url.database or "postgres",
            timeout=10,
        )
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


@contextmanager
def process_databases(prefix: str, base_url: str | None = None) -> Iterator[dict[str, str]]:
    """With a PostgreSQL server (`base_url`, else AUXPOL_TEST_DATABASE_URL): a fresh
    database per process, `<prefix>_<process>_<random>`, migrated by the stack and dropped
    afterwards. Without one: no URLs (SQLite files in the stack's directory)."""
    from sqlalchemy.engine import make_url

    from kernel.testing import postgres_base_url

    base = base_url or postgres_base_url()
    if base is None:
        yield {}
        return
    suffix = uuid.uuid4().hex[:8]
    created: dict[str, str] = {}
    try:
        for name in NAMES:
            db = f"{prefix}_{name}_{suffix}"
            admin_sql(base, f'CREATE DATABASE "{db}"')
            created[name] = (
                make_url(base)
                .set(drivername="postgresql+asyncpg", database=db)
                .render_as_string(hide_password=False)
            )
        yield created
    finally:
        for url in created.values():
            admin_sql(base, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


@contextmanager
def running_stack(prefix: str, *, postgres: str | None = None, **options: Any) -> Iterator[Stack]:
    """A started `Stack(separate=True, ...)` on `process_databases(prefix, postgres)`,
    closed afterwards."""
    with process_databases(prefix, postgres) as urls:
        stack = Stack(separate=True, database_urls=urls, **options)
        try:
            stack.start()
            yield stack
        finally:
            stack.close()
