"""Closed-loop HTTP load: wrk when installed (Debian's `wrk`), else a small aiohttp
generator in its own process. The same tool measures both sides of a comparison."""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

from bench.harness import have_wrk


@dataclass
class LoadResult:
    tool: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


def _ms(text: str) -> float:
    value = float(re.findall(r"[\d.]+", text)[0])
    if text.endswith("us"):
        return value / 1000
    if text.endswith("ms"):
        return value
    if text.endswith("s"):
        return value * 1000
    return value


def run_wrk(
    url: str, headers: dict[str, str], connections: int, seconds: int, cpu: str | None = None
) -> LoadResult:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    for key, value in headers.items():
        cmd += ["-H", f"{key}: {value}"]
    cmd.append(url)
    if cpu is not None:
        cmd = ["taskset", "-c", cpu, *cmd]
    return parse_wrk(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


def parse_wrk(out: str) -> LoadResult:
    """wrk's report (with --latency) as a result."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    # the distribution's own lines ("    50%    6.21ms"): a "+/- Stdev" column such as
    # "72.50%" also holds "50%"
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors += sum(int(g) for g in sock.groups())
    return LoadResult("wrk", rps, p50, p99, errors, total)


async def _python_load(
    url: str, headers: dict[str, str], connections: int, seconds: float
) -> dict[str, float]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    async with session.get(url) as response:
                        await response.read()
                        if response.status >= 400:
                            errors += 1
                except aiohttp.ClientError:
                    errors += 1
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": errors,
        "n": len(latencies),
    }


def run_python(
    url: str, headers: dict[str, str], connections: int, seconds: int, cpu: str | None = None
) -> LoadResult:
    code = (
        "import asyncio, json, sys; from bench.httpload import _python_load; "
        "a = json.loads(sys.argv[1]); "
        "print(json.dumps(asyncio.run(_python_load(a['url'], a['headers'], a['c'], a['s']))))"
    )
    cmd = [
        sys.executable,
        "-c",
        code,
        json.dumps({"url": url, "headers": headers, "c": connections, "s": seconds}),
    ]
    if cpu is not None:
        cmd = ["taskset", "-c", cpu, *cmd]
    out = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    return LoadResult(
        "python-aiohttp", out["rps"], out["p50"], out["p99"], int(out["errors"]), int(out["n"])
    )


def load(
    url: str,
    headers: dict[str, str],
    connections: int = 8,
    seconds: int = 10,
    cpu: str | None = None,
) -> LoadResult:
    if have_wrk():
        return run_wrk(url, headers, connections, seconds, cpu)
    return run_python(url, headers, connections, seconds, cpu)
