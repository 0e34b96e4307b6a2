"""The columnar checks of an import (`RowChecker.check`) give what the row path
(`RowChecker.by_row`: RowReader, then `prepare`) gives for every row, in file order:
the same rows with the same fields, and the same errors, word for word. Random files
of mostly good rows with now and then one or more bad or odd values, in CSV (text
cells) and XLSX (numbers, dates, booleans) form; and the COPY text of the rows."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from services.common import resident_id as rid
from services.roster import import_checks as ic
from services.roster import import_parsing as ip
from services.roster.config import LevelPolicyEntry
from services.roster.level_config import LevelPolicies
from services.roster.personnel_rules import FieldProblem

TODAY = date(2026, 3, 10)
REGIONS = {"371327", "371327001", "371302", "410101"}


def _numbers(rng: random.Random) -> list[str]:
    """Valid numbers (births from 1955 to 2012: some under age on their hire date)."""
    return [
        rid.make_id_number(
            rng.choice(["371327", "410101", "110105"]),
            date(1955, 1, 1) + timedelta(days=rng.randrange(21_000)),
            rng.randrange(1000),
        )
        for _ in range(400)
    ]


def _odd_numbers(valid: list[str]) -> list[Any]:
    full_width = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in valid[0])
    x = next(n for n in valid if n.endswith("X"))
    return [
        valid[1][:17] + ("0" if valid[1][17] != "0" else "1"),  # wrong check character
        x.lower(),
        f"  {valid[2]} ",
        full_width,
        valid[3][:17],
        "37132719950230001X",  # 30 February
        "",
        "x" * 41,
        valid[4][:10] + "\x00" + valid[4][11:],
        3.7132719950501e17,  # an XLSX number
    ]


# per column: a good value first, then others, good and bad
VALUES: dict[str, list[Any]] = {
    "name": ["李娜", "", "名" * 51, " 王 伟 ", "a\x00b"],
    "region": ["371327", "371327001", "", "3713270011", "371399", "410101"],
    "unit": ["巡特警大队", "", "单" * 101],
    "post_category": ["duty", "勤务", "CIVILIAN", "文职辅警", "", "guard"],
    "post": ["patrol", " Clerk ", "", "巡逻", "x" * 41, "it_support", "clerk"],
    "education": ["senior_high", "大专", "Bachelor", "", "小学", "master"],
    "veteran": ["", "是", "no", "Y", "maybe", True, False],
    "political_status": ["", "党员", "masses", "无党派"],
    "phone": ["", "13800138000", "+86 138-0013-8000", "call me", "1" * 21, "+" + "1" * 20],
    "hire_date": ["2023-05-01", "2023/5/1", "2023年5月1日", "20230501", "2023-02-30", "",
                  "soon", datetime(2023, 5, 1, 9, 0), date(2022, 1, 3), 45000.0,
                  "1949-12-31", "2027-06-01", "2010-02-28", "2026-03-10"],
    "level": ["", "3", "3级", "0", "10", "three", 4.0, "级", "6", "7"],
    "step": ["", "2", "2档", "0", "51", "x"],
    "probation_months": ["", "3", "6个月", "7", "x", "0", "1"],
    "contract_kind": ["", "labour", "劳务派遣", "temp"],
    "contract_start": ["", "2023-05-01", "bad", "2023-06-01"],
    "contract_end": ["", "2026-04-30", "bad", "2023-08-01", "2023-04-01"],
    "reservation_reference": ["", "plan-7", "r" * 201],
    "external_reference": ["", "ext-1", "e" * 201, "ext-2"],
    "level_since": ["", "2024-01-01", "bad", "2020-01-01", "2027-01-01"],
}  # fmt: skip


def _policies(rng: random.Random) -> LevelPolicies:
    if rng.random() < 0.5:
        return LevelPolicies([])
    return LevelPolicies(
        [
            LevelPolicyEntry(region_prefix="3713", policy={"levels": 5}),
            LevelPolicyEntry(
                region_prefix="371327", effective_from=date(2023, 1, 1), policy={"levels": 6}
            ),
        ]
    )


def _both(
    columns: list[str | None],
    rows: list[tuple[int, list[Any]]],
    policies: LevelPolicies,
    text: bool,
    slice_size: int,
) -> tuple[Any, Any]:
    posts = {"patrol": "duty", "clerk": "civilian"}
    fast = ic.RowChecker(columns, REGIONS, dict(posts), policies, TODAY, cells_are_text=text)
    fast_out: tuple[list[Any], list[Any]] = ([], [])
    for start in range(0, len(rows), slice_size):
        good, bad = fast.check(rows[start : start + slice_size])
        fast_out[0].extend(good)
        fast_out[1].extend(bad)
    slow = ic.RowChecker(columns, REGIONS, dict(posts), policies, TODAY, cells_are_text=text)
    slow_out: tuple[list[Any], list[Any]] = ([], [])
    for line, cells in rows:
        try:
            slow_out[0].append(slow.by_row(line, cells))
        except FieldProblem as exc:
            slow_out[1].append(ic.RowError(line, exc.field, exc.code, exc.message))
    assert fast.posts == slow.posts
    return fast_out, slow_out


@pytest.mark.parametrize("text", [True, False], ids=["csv", "xlsx"])
def test_the_columnar_checks_give_what_the_row_path_gives(text: bool) -> None:
    rng = random.Random(5 if text else 6)
    seen: Counter[str] = Counter()
    for _ in range(30):
        numbers = _numbers(rng)
        odd = _odd_numbers(numbers)
        names = list(VALUES)
        rng.shuffle(names)
        keep = [n for n in names if n in ip.REQUIRED or rng.random() < 0.6]
        columns: list[str | None] = ["id_number", *keep]
        rng.shuffle(columns)
        if rng.random() < 0.3:
            columns.insert(rng.randrange(len(columns) + 1), None)  # a blank header cell
        rows: list[tuple[int, list[Any]]] = []
        used: list[Any] = []
        for line in range(2, 402):
            cells: list[Any] = []
            for name in columns:
                if name is None:
                    cells.append("")
                elif name == "id_number":
                    pick = rng.random()
                    if pick < 0.03:
                        cells.append(rng.choice(odd))
                    elif pick < 0.06 and used:  # repeated in the file
                        cells.append(rng.choice(used))
                    else:
                        cells.append(rng.choice(numbers))
                    used.append(cells[-1])
                else:
                    options = VALUES[name]
                    good = rng.random() < 0.93
                    cells.append(options[0 if good else 1 + rng.randrange(len(options) - 1)])
            if text:
                cells = [c if isinstance(c, str) else ip._text(c) for c in cells]
            if rng.random() < 0.03:
                cells = cells[: rng.randrange(len(cells))]  # a short row
            elif rng.random() < 0.03:
                cells = [*cells, "extra"]  # a long one
            rows.append((line, cells))
        fast, slow = _both(columns, rows, _policies(rng), text, rng.choice([1, 7, 100, 500]))
        assert fast == slow, columns
        seen["good"] += len(fast[0])
        seen.update(e.code for e in fast[1])
    # good rows, and refusals of many kinds
    assert seen["good"] > 3000 and len(seen) > 9, seen
    for code in ("invalid_id_number", "under_age", "duplicate_in_file", "invalid_level"):
        assert seen[code] > 0, (code, seen)


def test_copy_text_is_escaped_only_when_a_value_needs_it() -> None:
    assert ic.copy_line(("1", "李娜", "")) == "1\t李娜\t"
    assert ic.copy_line(("tab\there", "back\\slash", "line\nbreak", "cr\rhere")) == (
        "tab\\there\tback\\\\slash\tline\\nbreak\tcr\\rhere"
    )
    checker = ic.RowChecker(
        ["id_number", "name", "region", "unit", "post_category", "post", "education",
         "hire_date", "external_reference"],
        REGIONS, {}, LevelPolicies([]), TODAY,
    )  # fmt: skip
    number = rid.make_id_number("371327", date(1995, 5, 1), 11)
    cells = [number, "李\\娜", "371327", "巡\t特警", "duty", "patrol", "bachelor",
             "2020-01-15", "ext\\1"]  # fmt: skip
    (row,), errors = checker.check([(2, cells)])
    assert errors == [] and row.fields[1] == "李\\娜" and row.fields[5] == "巡\t特警"
    assert row.text == ic.copy_line(row.fields) and row.text.count("\t") == 20
    assert "李\\\\娜" in row.text and "巡\\t特警" in row.text


def test_the_fields_read_back_as_the_file_s_values() -> None:
    from services.roster.import_service import sqlite_values
    from services.roster.models import Personnel

    checker = ic.RowChecker(
        ["id_number", "name", "region", "unit", "post_category", "post", "education",
         "hire_date", "phone", "veteran", "level", "probation_months"],
        REGIONS, {}, LevelPolicies([]), TODAY,
    )  # fmt: skip
    number = rid.make_id_number("371327", date(1995, 5, 1), 11)
    cells = [number, "李娜", "371327", "u", "duty", "patrol", "bachelor", "2026-01-15", "",
             "是", "", "3"]  # fmt: skip
    (row,), errors = checker.check([(2, cells)])
    assert errors == []
    values = sqlite_values(Personnel.__table__, ic.DATA_COLUMNS, row.fields)  # type: ignore[arg-type]
    assert values["birth_date"] == date(1995, 5, 1) and values["sex"] == "male"
    assert values["hire_date"] == date(2026, 1, 15) and values["veteran"] is True
    assert values["probation_end"] == date(2026, 4, 14) and values["status"] == "probation"
    assert values["phone"] is None and values["external_reference"] is None
    assert values["level"] == 5 and values["probation_months"] == 3
    assert (row.id_number, row.region, row.hire_date) == (number, "371327", "2026-01-15")


def _read(content: bytes) -> tuple[list[str | None], int, list[tuple[int, list[Any]]]]:
    file = ip.open_csv(content)
    return file.columns, file.total, list(file.rows())


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_a_csv_without_quotes_reads_as_the_csv_module_reads_it(
    delimiter: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(ord(delimiter))
    header = delimiter.join(["id_number", "name", "region", "unit", "post_category", "post",
                             "education", "hire_date", "phone"])  # fmt: skip
    cells = ["371327199505010011", " 李娜 ", "371327", "", "duty", "patrol", "大专",
             "2023/5/1", "a\x00b", "  ", "\u3000"]  # fmt: skip
    for _ in range(40):
        lines = [header]
        for _ in range(rng.randrange(1, 60)):
            shape = rng.random()
            if shape < 0.1:
                lines.append("")  # blank
            elif shape < 0.2:
                lines.append(delimiter.join(rng.choice(["", " ", "\t"]) for _ in range(9)))
            else:
                width = rng.choice([9, 9, 9, 5, 12])
                lines.append(delimiter.join(rng.choice(cells) for _ in range(width)))
        ending = rng.choice(["\n", "\r\n"])
        text = ending.join(lines) + rng.choice(["", ending, ending * 2])
        content = text.encode()
        fast = _read(content)
        with monkeypatch.context() as patched:
            patched.setattr(ip, "_plain_lines", lambda _text: None)
            assert _read(content) == fast, text
