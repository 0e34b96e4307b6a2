"""What the service benchmarks share: the scale, an API client on the gateway, latency
samples, a service's database and its process's memory."""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.stack import Stack

# Long operations (a 100,000-row import, a stage close) go through the gateway like
# everything else; the bench stack gives the gateway a longer upstream timeout (see
# bench/__main__.py) so that a slow operation is measured instead of ending in a 504.
TIMEOUT = httpx.Timeout(600.0, connect=10.0)


def scale() -> float:
    """BENCH_SCALE (default 1): a fraction of the issue sizes for quick checks."""
    value = float(os.environ.get("BENCH_SCALE", "1") or "1")
    if not 0 < value <= 10:
        raise ValueError(f"BENCH_SCALE={value}: choose a fraction in (0, 10]")
    return value


def sized(n: int, minimum: int = 1) -> int:
    return max(minimum, round(n * scale()))


def size_note(n: int) -> str:
    s = scale()
    return "" if s == 1 else f"BENCH_SCALE={s:g}: {n:,} instead of the issue's size"


def api(stack: Stack, token: str) -> httpx.Client:
    """The public API (through the gateway) as the bench's administrator."""
    return httpx.Client(
        base_url=stack.url, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
    )


def user_token(stack: Stack, client: httpx.Client, username: str, role: str, region: str) -> str:
    """A token of a second user (created by the administrator when absent), for the
    steps that must not be done by the same person (e.g. approving what one calculated)."""
    password = "bench-" + username + "-pass"
    check(
        client.post(
            "/auth/users",
            json={"username": username, "password": password, "roles": [role], "region": region},
        ),
        201,
        409,
    )
    return stack.token(username, password)


def check(response: httpx.Response, *ok: int) -> httpx.Response:
    if response.status_code not in (ok or (200, 201)):
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text[:2000]}"
        )
    return response


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """`with stopwatch() as t: ...` then `t[0]` is the elapsed seconds."""
    out: list[float] = []
    started = time.perf_counter()
    try:
        yield out
    finally:
        out.append(time.perf_counter() - started)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def latencies(
    client: httpx.Client, next_path: Callable[[], str], count: int, warmup: int = 3
) -> tuple[float, float, int]:
    """p50 and p99 in ms of `count` sequential GETs (one connection, kept alive),
    after `warmup` unmeasured ones; and the size of the last body in bytes."""
    size = 0
    for _ in range(warmup):
        check(client.get(next_path()))
    samples: list[float] = []
    for _ in range(count):
        path = next_path()
        started = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        check(response)
        size = len(response.content)
    return statistics.median(samples), percentile(samples, 0.99), size


def database_url(stack: Stack, service: str) -> str:
    """The service's database, as the stack configured it (PostgreSQL or its SQLite file)."""
    url = stack.env.get(f"AUXPOL_{service.upper()}_DATABASE_URL")
    if url:
        return url
    return f"sqlite+aiosqlite:///{(stack.data_dir / f'{service}.db').resolve()}"


def is_postgres(stack: Stack, service: str) -> bool:
    return database_url(stack, service).startswith("postgresql")


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def sqlite_path(url: str) -> str:
    return url.split(":///", 1)[1]


# --- memory of a service process ------------------------------------------------------------


def _status(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = int(rest.split()[0])  # kB
    return out


def rss_mb(pid: int) -> float:
    return _status(pid)["VmRSS"] / 1024


def peak_mb(pid: int) -> float:
    return _status(pid)["VmHWM"] / 1024


def reset_peak(pid: int) -> bool:
    """Reset the process's RSS high-water mark to its current RSS (Linux ≥ 4.0:
    `echo 5 > /proc/<pid>/clear_refs`), so that the next peak is the next operation's."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def service_pid(stack: Stack, name: str) -> int:
    pid = stack.pid_of(name)
    if pid is None:
        raise RuntimeError(f"{name} is not running")
    return pid


def noted(*texts: str, **parts: Any) -> str:
    """'a, b, rows per s 1,234': the non-empty texts, then `key value` for each part."""
    out = [t for t in texts if t]
    out += [f"{k.replace('_', ' ')} {v}" for k, v in parts.items() if v not in ("", None)]
    return ", ".join(out)


# --- CPU spent by a service and its database during an operation ------------------------------


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def _backends(database: str) -> list[int]:
    """PostgreSQL backends serving `database` on this machine (from their titles)."""
    found = []
    needle = f" {database} ".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if title.startswith(b"postgres: ") and needle in title:
            found.append(int(entry.name))
    return found


class CpuMeter:
    """CPU seconds of a service process and of the PostgreSQL backends serving its
    database, between `start()` and `stop()`: unlike wall time, hardly inflated when
    other work shares the machine (it waits instead)."""

    def __init__(self, stack: Stack, service: str) -> None:
        self.pid = service_pid(stack, service)
        url = database_url(stack, service)
        name = url.split("?", 1)[0].rsplit("/", 1)[1]
        self.database = name if url.startswith("postgresql") else None
        self.service = 0.0
        self.database_cpu = 0.0
        self._start: dict[int, float] = {}

    def _sample(self) -> dict[int, float]:
        pids = [self.pid, *(_backends(self.database) if self.database else [])]
        return {pid: _cpu(pid) for pid in pids}

    def start(self) -> CpuMeter:
        self._start = self._sample()
        return self

    def stop(self) -> str:
        end = self._sample()
        self.service = end.get(self.pid, 0.0) - self._start.get(self.pid, 0.0)
        self.database_cpu = sum(
            cpu - self._start.get(pid, 0.0) for pid, cpu in end.items() if pid != self.pid
        )
        return self.note()

    def note(self) -> str:
        text = f"CPU: service {self.service:.2f} s"
        if self.database:
            text += f", PostgreSQL {self.database_cpu:.2f} s"
        return text


# --- profiling a service while it does the measured thing ------------------------------------


@contextmanager
def profiled(stack: Stack, service: str, label: str) -> Iterator[None]:
    """BENCH_PROFILE=<label>[,<label>…] (or 1 for all): record the service process with
    py-spy while the block runs; collapsed stacks land in BENCH_PROFILE_DIR (default
    /tmp/auxpol-bench-profiles)/<label>.txt. Profiling slows the process: never on a
    recorded run."""
    wanted = os.environ.get("BENCH_PROFILE", "")
    chosen = wanted == "1" or label in wanted.split(",")
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not chosen or not Path(spy).exists():
        yield
        return
    out_dir = Path(os.environ.get("BENCH_PROFILE_DIR", "/tmp/auxpol-bench-profiles"))
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{label}.txt"
    proc = subprocess.Popen(
        [
            spy,
            "record",
            "-p",
            str(service_pid(stack, service)),
            "-f",
            "raw",
            "-o",
            str(out),
            "-r",
            "200",
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)  # attached
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        print(f"profile of {service} during {label}: {out}", flush=True)
