from __future__ import annotations

import pytest

from kernel.errors import Unprocessable
from kernel.pagination import PageParams, decode_cursor, encode_cursor, page_of


def test_cursor_round_trip() -> None:
    assert decode_cursor(encode_cursor(123)) == 123
    assert decode_cursor(encode_cursor("abc")) == "abc"


@pytest.mark.parametrize("bad", ["!!!", "e30", "bm90IGpzb24"])
def test_bad_cursor(bad: str) -> None:
    with pytest.raises(Unprocessable):
        decode_cursor(bad)


def test_page_of_sets_next_cursor_only_when_more() -> None:
    params = PageParams(limit=2)
    rows, cursor = page_of([1, 2, 3], params, key=lambda r: r)
    assert rows == [1, 2] and decode_cursor(cursor or "") == 2
    rows, cursor = page_of([1, 2], params, key=lambda r: r)
    assert rows == [1, 2] and cursor is None
