"""`make bench`: start the real stack (PostgreSQL when AUXPOL_BENCH_DATABASE_URL is
set, else SQLite), run the benchmarks, print the table and append it to RESULTS.md
(not with BENCH_NO_RECORD=1).

    python -m bench                 # everything
    python -m bench gateway roster  # a selection (always run in the order below)
    BENCH_SCALE=0.1 python -m bench # a tenth of the issue sizes, for a quick check
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback

from bench.harness import Figure, bench_databases, command_line, record
from tests.stack import NAMES, Stack

# In this order: the compensation benchmark pays the people the roster benchmark imported
# (and builds them itself when run alone).
BENCHMARKS = {
    "gateway": "bench.bench_gateway",
    "roster": "bench.bench_roster",
    "recruitment": "bench.bench_recruitment",
    "compensation": "bench.bench_compensation",
}
STACK_ENV = {
    "AUXPOL_LOG_LEVEL": "WARNING",
    # a slow 100,000-row operation is measured, not cut off by the gateway's 30 s
    "AUXPOL_GATEWAY_UPSTREAM_TIMEOUT_SECONDS": "600",
}


def main(argv: list[str]) -> int:
    unknown = [s for s in argv if s not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmarks: {unknown}; choose from {list(BENCHMARKS)}")
        return 2
    selected = [name for name in BENCHMARKS if not argv or name in argv]
    figures: list[Figure] = []
    failed = False
    with bench_databases(NAMES) as urls:
        stack = Stack(separate=True, database_urls=urls, extra_env=STACK_ENV)
        try:
            stack.start()
            token = stack.token()
            for name in selected:
                try:
                    module = importlib.import_module(BENCHMARKS[name])
                except ModuleNotFoundError as exc:
                    print(f"{name}: not available ({exc})")
                    continue
                print(f"running {name} ...", flush=True)
                started = time.perf_counter()
                try:
                    figures += module.run(stack, token)
                except Exception as exc:  # one broken benchmark does not lose the others
                    failed = True
                    traceback.print_exc()
                    print("--- the end of the stack's log ---\n" + stack.log()[-4000:], flush=True)
                    figures.append(Figure(name, "FAILED", 0, "", passed=False, note=str(exc)[:300]))
                print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
        finally:
            stack.close()
    record(figures, command_line())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
