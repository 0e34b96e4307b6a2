"""RowReader (one itemgetter, remembered values) reads every row as the plain reader
it replaced: the same file, or the same first bad value. The plain reader is kept
here as the reference."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime
from typing import Any

from services.roster import import_parsing as ip
from services.roster.personnel_rules import ContractTerms, FieldProblem, NewPerson


def reference(columns: list[str | None], cells: list[Any]) -> NewPerson:
    """The reader as it was: a slot per field, every value parsed afresh."""
    positions = [(pos, ip._SLOT[name]) for pos, name in enumerate(columns) if name]
    v: list[str] = [""] * len(ip._FIELDS)
    for pos, slot in positions:
        if pos < len(cells):
            cell = cells[pos]
            v[slot] = cell.strip() if cell.__class__ is str else ip._text(cell)
    (
        id_number, name, region, unit, category, post, education, veteran, political,
        phone, hire_date, level, step, probation, contract_kind, contract_start,
        contract_end, reservation_reference, external_reference, level_since,
    ) = v  # fmt: skip
    if "\x00" in "".join(v):
        field = ip._FIELDS[next(i for i, text in enumerate(v) if "\x00" in text)]
        raise FieldProblem(field, "invalid_value", f"{field} holds a NUL character")
    post = ip._required(post, "post", 40).lower()
    if not ip._POST.match(post):
        raise FieldProblem(
            "post", "invalid_value", "post must be a lower-case word such as patrol or clerk"
        )
    if phone and (len(phone) > 20 or not ip._PHONE.match(phone)):
        raise FieldProblem("phone", "invalid_value", "phone is not a telephone number")
    hired = ip._date(hire_date, "hire_date")
    contract = None
    if contract_kind:
        kind = ip._choice(contract_kind, "contract_kind", ip._CONTRACT_KINDS)
        start = ip._optional_date(contract_start, "contract_start") or hired
        end = ip._optional_date(contract_end, "contract_end")
        months = ip._int(probation, "probation_months", 0, 6) or 0
        contract = ContractTerms(kind, start, end, months)
    elif contract_start or contract_end:
        raise FieldProblem("contract_kind", "missing_value", "contract dates need contract_kind")
    return NewPerson(
        id_number=ip._required(id_number, "id_number", 40),
        name=ip._required(name, "name", 50),
        region=ip._required(region, "region", 9),
        unit=ip._required(unit, "unit", 100),
        post_category=ip._choice(category, "post_category", ip._CATEGORIES),
        post=post,
        education=ip._choice(education, "education", ip._EDUCATION),
        veteran=ip._bool(veteran, "veteran") if veteran else False,
        political_status=(
            ip._choice(political, "political_status", ip._POLITICAL) if political else None
        ),
        phone=phone or None,
        hire_date=hired,
        level=ip._int(level, "level", 1, 9) if level else None,
        step=(ip._int(step, "step", 1, 50) or 1) if step else 1,
        probation_months=ip._int(probation, "probation_months", 0, 6) if probation else None,
        contract=contract,
        reservation_reference=ip._optional(reservation_reference, "reservation_reference", 200),
        external_reference=ip._optional(external_reference, "external_reference", 200),
        level_since=ip._optional_date(level_since, "level_since"),
    )


def outcome(read: Any, cells: list[Any]) -> Any:
    try:
        return read(cells)
    except FieldProblem as exc:
        return (exc.field, exc.code, exc.message)


# per column: a good value first, then others, good and bad
VALUES: dict[str, list[Any]] = {
    "id_number": ["371327199505010011", " 37132719950501001X ", "", "x" * 41],
    "name": ["李娜", "", "名" * 51],
    "region": ["371327", "371327001", "", "3713270011"],
    "unit": ["巡特警大队", "", "单" * 101],
    "post_category": ["duty", "勤务", "CIVILIAN", "文职辅警", "", "guard"],
    "post": ["patrol", " Clerk ", "", "巡逻", "x" * 41, "it_support"],
    "education": ["senior_high", "大专", "Bachelor", "", "小学"],
    "veteran": ["", "是", "no", "Y", "maybe", True, False],
    "political_status": ["", "党员", "masses", "无党派"],
    "phone": ["", "13800138000", "+86 138-0013-8000", "call me", "+" + "1" * 20],
    "hire_date": ["2023-05-01", "2023/5/1", "2023年5月1日", "20230501", "2023-02-30", "",
                  "soon", datetime(2023, 5, 1, 9, 0), date(2022, 1, 3), 45000.0],
    "level": ["", "3", "3级", "0", "10", "three", 4.0, "级"],
    "step": ["", "2", "2档", "0", "51", "x"],
    "probation_months": ["", "3", "6个月", "7", "x"],
    "contract_kind": ["", "labour", "劳务派遣", "temp"],
    "contract_start": ["", "2023-05-01", "bad"],
    "contract_end": ["", "2026-04-30", "bad"],
    "reservation_reference": ["", "plan-7", "r" * 201],
    "external_reference": ["", "ext-1", "e" * 201],
    "level_since": ["", "2024-01-01", "bad"],
}  # fmt: skip


def test_row_reader_reads_like_the_plain_reader() -> None:
    rng = random.Random(11)
    seen: Counter[str] = Counter()
    for _ in range(40):
        names = list(VALUES)
        rng.shuffle(names)
        keep = [n for n in names if n in ip.REQUIRED or rng.random() < 0.6]
        columns: list[str | None] = [*keep]
        if rng.random() < 0.3:
            columns.insert(rng.randrange(len(columns) + 1), None)  # a blank header cell
        read = ip.RowReader(columns)
        for _ in range(300):
            # mostly good rows, with now and then one or more bad or odd values
            cells: list[Any] = [
                ""
                if name is None
                else VALUES[name][
                    0 if rng.random() < 0.95 else 1 + rng.randrange(len(VALUES[name]) - 1)
                ]
                for name in columns
            ]
            if rng.random() < 0.05:
                cells = cells[: rng.randrange(len(cells))]  # a short row
            elif rng.random() < 0.05:
                cells = [*cells, "extra"]  # a long one
            if cells and rng.random() < 0.02:
                cells[rng.randrange(len(cells))] = "派出\x00所"
            got = outcome(read, cells)
            assert got == outcome(lambda c: reference(columns, c), cells), (columns, cells)
            seen[got[0] if isinstance(got, tuple) else "good"] += 1
    # both kinds, and bad values in many columns
    assert seen["good"] > 3000 and len(seen) > 12, seen
