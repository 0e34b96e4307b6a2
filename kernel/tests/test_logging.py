from __future__ import annotations

import logging

from kernel.observability import JsonFormatter, PlainFormatter

NUMBER = "11010519491231002X"


def _record(msg: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("auxpol.test", logging.ERROR, __file__, 1, msg, (), None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_id_numbers_never_reach_a_log_line() -> None:
    record = _record(f"import failed for {NUMBER}", detail=f"row 3: {NUMBER} duplicate")
    for formatter in (JsonFormatter(), PlainFormatter("%(levelname)s %(message)s")):
        line = formatter.format(record)
        assert NUMBER not in line
        assert "1101**********002X" in line


def test_database_errors_hide_parameters() -> None:
    from kernel.db import create_engine

    engine = create_engine("sqlite+aiosqlite:///:memory:")
    assert engine.sync_engine.hide_parameters is True
