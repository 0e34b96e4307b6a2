"""Figures, targets, the RESULTS.md record, and a stack to measure against."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


@dataclass
class Figure:
    benchmark: str
    measure: str
    value: float
    unit: str
    target: str = ""
    passed: bool | None = None
    note: str = ""

    def verdict(self) -> str:
        if self.passed is None:
            return ""
        return "PASS" if self.passed else "MISS"

    def shown(self) -> str:
        if self.unit in ("s", "ms"):
            return (
                f"{self.value:,.3f} {self.unit}"
                if self.value < 10
                else f"{self.value:,.1f} {self.unit}"
            )
        if self.unit == "×":
            return f"{self.value:.2f}×"
        return f"{self.value:,.1f} {self.unit}".strip()


def backend() -> str:
    return "PostgreSQL" if os.environ.get("AUXPOL_BENCH_DATABASE_URL") else "SQLite"


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(re.findall(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[0])
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, IndexError):
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem}, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )


def table(figures: list[Figure]) -> str:
    lines = [
        "| benchmark | measure | value | target | verdict | note |",
        "|---|---|---|---|---|---|",
    ]
    for f in figures:
        lines.append(
            f"| {f.benchmark} | {f.measure} | {f.shown()} | {f.target} | {f.verdict()} | {f.note} |"
        )
    return "\n".join(lines)


def recording() -> bool:
    """BENCH_NO_RECORD=1: print the table but leave RESULTS.md alone (while iterating)."""
    return os.environ.get("BENCH_NO_RECORD", "") in ("", "0")


def record(figures: list[Figure], command: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = [
        f"## {stamp} — {backend()}",
        "",
        f"Command: `{command}`  ",
        f"Machine: {machine()}  ",
        f"Database: {backend()}"
        + (" 15 on 127.0.0.1" if backend() == "PostgreSQL" else " (files in a temp dir)"),
        "",
        table(figures),
        "",
    ]
    text = "\n".join(block)
    print(text)
    if not recording():
        print("(BENCH_NO_RECORD is set: not appended to bench/RESULTS.md)")
        return
    if not RESULTS.exists():
        RESULTS.write_text(
            "# Benchmark results\n\nEach block is one run of `make bench`, appended by the run "
            "itself. Ratios measured in the same run are the solid figures; absolute figures "
            "drift ±30% on this kind of machine.\n\n"
        )
    with RESULTS.open("a") as out:
        out.write(text + "\n")


@contextmanager
def bench_databases(names: tuple[str, ...]) -> Iterator[dict[str, str]]:
    """Fresh PostgreSQL databases per service when AUXPOL_BENCH_DATABASE_URL is set."""
    base = os.environ.get("AUXPOL_BENCH_DATABASE_URL")
    if not base:
        yield {}
        return
    from sqlalchemy.engine import make_url

    url = make_url(base)
    suffix = uuid.uuid4().hex[:8]
    created: dict[str, str] = {}
    psql = [
        "psql",
        "-h",
        url.host or "127.0.0.1",
        "-p",
        str(url.port or 5432),
        "-U",
        url.username or "postgres",
        "-d",
        url.database or "postgres",
        "-qc",
    ]
    try:
        for name in names:
            db = f"auxpol_bench_{name}_{suffix}"
            subprocess.run([*psql, f'CREATE DATABASE "{db}"'], check=True)
            created[name] = url.set(drivername="postgresql+asyncpg", database=db).render_as_string(
                hide_password=False
            )
        yield created
    finally:
        for name in created:
            db = f"auxpol_bench_{name}_{suffix}"
            subprocess.run([*psql, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'], check=False)


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def command_line() -> str:
    args = " ".join(sys.argv[1:])
    prefix = "AUXPOL_BENCH_DATABASE_URL=… " if os.environ.get("AUXPOL_BENCH_DATABASE_URL") else ""
    if os.environ.get("BENCH_SCALE", "1") not in ("", "1"):
        prefix += f"BENCH_SCALE={os.environ['BENCH_SCALE']} "
    return f"{prefix}make bench" + (f" BENCH_ARGS='{args}'" if args else "")
