"""Checks on a new personnel file that need no database: shared by `POST /personnel`
and the bulk import, which runs them in a tight loop.

Birth date and sex come from the resident ID number, never typed. The status follows
from the probation: on probation until its last day, active after it (an old hire
imported today is active). Messages never contain the ID number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from services.common import resident_id as rid
from services.roster import contracts as lcl
from services.roster.levels import LevelPolicy, entry_level
from services.roster.statuses import Status

MIN_WORKING_AGE = 16  # Labour Law art. 15
PROBATION, ACTIVE = Status.PROBATION.value, Status.ACTIVE.value
EARLIEST_HIRE = date(1950, 1, 1)
LATEST_HIRE_AHEAD = timedelta(days=366)


class FieldProblem(Exception):
    """One bad field of a new file: where, a stable code and a message."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.code = code
        self.message = message


@dataclass(slots=True)
class ContractTerms:
    kind: str
    start: date
    end: date | None
    probation_months: int
    note: str | None = None


@dataclass(slots=True)
class NewPerson:
    id_number: str
    name: str
    region: str
    unit: str
    post_category: str
    post: str
    education: str  # an Education value
    veteran: bool
    political_status: str | None
    phone: str | None
    hire_date: date
    level: int | None
    step: int
    probation_months: int | None
    contract: ContractTerms | None = None
    reservation_reference: str | None = None
    external_reference: str | None = None
    level_since: date | None = None


@dataclass(slots=True)
class Prepared:
    person: NewPerson
    id_number: str
    birth_date: date
    sex: str
    level: int
    level_since: date
    probation_months: int
    probation_end: date | None
    status: str  # a Status value: probation or active
    status_since: date


def parse_id_number(raw: str, field: str = "id_number") -> rid.ResidentId:
    try:
        return rid.parse(raw)
    except rid.InvalidIdNumber as exc:
        raise FieldProblem(
            field, "invalid_id_number", f"not a valid ID number: {exc.reason}"
        ) from exc


# The bulk import checks 100,000 numbers in a row. The usual number (ASCII digits and a
# birth date seen before) is checked here with a slice, a look-up and the checksum;
# anything else goes the long way through `resident_id.parse`, which also words the
# refusal. Both accept and refuse the same numbers (tests/test_personnel_rules.py).
_BIRTHS: dict[str, date] = {}  # "YYYYMMDD" of numbers that passed: their birth date
_BIRTHS_KEPT = 100_000  # a bound on the memo (every day from 1850 to 2100 is 92,000)


def resident_facts(raw: str, field: str = "id_number") -> tuple[str, date, str]:
    """(number, birth date, sex) of a valid ID number; raises FieldProblem like
    `parse_id_number`."""
    number = raw.strip().upper()
    if len(number) == 18 and number.isascii():
        first17 = number[:17]
        birth = _BIRTHS.get(number[6:14])
        if birth is not None and first17.isdigit() and rid.check_character(first17) == number[17]:
            return number, birth, rid.SEX_BY_DIGIT[number[16]]
    resident = parse_id_number(raw, field)
    if len(_BIRTHS) < _BIRTHS_KEPT:
        _BIRTHS[resident.number[6:14]] = resident.birth_date
    return resident.number, resident.birth_date, resident.sex.value


def check_hire_date(hire: date, today: date) -> None:
    if hire < EARLIEST_HIRE or hire > today + LATEST_HIRE_AHEAD:
        raise FieldProblem(
            "hire_date",
            "invalid_date",
            f"hire_date must lie between {EARLIEST_HIRE.isoformat()} and a year from today",
        )


def check_working_age(birth_date: date, hire: date) -> None:
    if rid.age_on(birth_date, hire) < MIN_WORKING_AGE:
        raise FieldProblem(
            "hire_date", "under_age", f"under {MIN_WORKING_AGE} on the hire date (by the ID number)"
        )


def settled_level(level: int | None, education: str, policy: LevelPolicy) -> int:
    """The level given, checked against the scheme, or the entry level by education."""
    if level is None:
        return entry_level(education, policy)
    if not 1 <= level <= policy.levels:
        raise FieldProblem(
            "level", "invalid_level", f"level must be 1 (top) to {policy.levels} (entry)"
        )
    return level


def settled_level_since(level_since: date | None, hire: date, today: date) -> date:
    since = level_since or hire
    if since < hire or since > today:
        raise FieldProblem(
            "level_since", "invalid_date", "level_since must lie between the hire date and today"
        )
    return since


def settled_probation(
    contract: ContractTerms | None, probation_months: int | None, hire: date
) -> int:
    """The months of probation: the hiring contract's (lawful, starting on the hire
    date, agreeing with `probation_months` when both are given), else those given."""
    if contract is None:
        return probation_months or 0
    if contract.start != hire:
        raise FieldProblem(
            "contract.start", "invalid_contract", "the hiring contract starts on the hire date"
        )
    if probation_months is not None and probation_months != contract.probation_months:
        raise FieldProblem(
            "probation_months",
            "invalid_contract",
            f"probation_months {probation_months} differs from the contract's "
            f"{contract.probation_months}",
        )
    problems = lcl.validate_contract(
        contract.kind, contract.start, contract.end, contract.probation_months
    )
    if problems:
        raise FieldProblem("contract", "invalid_contract", "; ".join(problems))
    return contract.probation_months


def probation_status(hire: date, months: int, today: date) -> tuple[date | None, str, date]:
    """(last day of probation, status, status since): on probation until its last day,
    active after it."""
    if months == 0:
        return None, ACTIVE, hire
    end = lcl.probation_end(hire, months)
    if end is not None and end >= today:
        return end, PROBATION, hire
    return end, ACTIVE, lcl.regular_from(hire, months)


def prepare(person: NewPerson, policy: LevelPolicy, today: date) -> Prepared:
    """Validate and complete a new file; raises FieldProblem (the first problem, in
    the order of the steps below)."""
    number, birth_date, sex = resident_facts(person.id_number)
    hire = person.hire_date
    check_hire_date(hire, today)
    check_working_age(birth_date, hire)
    level = settled_level(person.level, person.education, policy)
    level_since = settled_level_since(person.level_since, hire, today)
    months = settled_probation(person.contract, person.probation_months, hire)
    end, status, since = probation_status(hire, months, today)
    return Prepared(
        person=person,
        id_number=number,
        birth_date=birth_date,
        sex=sex,
        level=level,
        level_since=level_since,
        probation_months=months,
        probation_end=end,
        status=status,
        status_since=since,
    )
