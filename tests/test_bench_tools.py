"""The benchmark's own parsing: a misread figure would be recorded in bench/RESULTS.md."""

from __future__ import annotations

from bench.httpload import parse_wrk

# a real wrk 4 report; its latency "+/- Stdev" column (72.50%) holds "50%" too
WRK_REPORT = """Running 2s test @ http://127.0.0.1:8000/api/v1/roster/regions/371327
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    18.83ms    6.03ms  60.12ms   72.50%
    Req/Sec   425.50     40.21   490.00     70.00%
  Latency Distribution
     50%   17.91ms
     75%   21.64ms
     90%   26.02ms
     99%   39.77ms
  851 requests in 2.00s, 530.82KB read
  Non-2xx or 3xx responses: 2
Requests/sec:    425.12
Transfer/sec:    265.16KB
"""


def test_wrk_report_is_read_from_its_distribution_lines() -> None:
    result = parse_wrk(WRK_REPORT)
    assert result.p50_ms == 17.91
    assert result.p99_ms == 39.77
    assert result.requests == 851
    assert result.requests_per_second == 425.12
    assert result.errors == 2


def test_wrk_latencies_in_microseconds_and_seconds() -> None:
    report = WRK_REPORT.replace("17.91ms", "912.00us").replace("39.77ms", "1.20s")
    result = parse_wrk(report)
    assert result.p50_ms == 0.912
    assert result.p99_ms == 1200.0
