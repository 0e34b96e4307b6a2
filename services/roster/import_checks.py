"""Checking the rows of a personnel import: every check of `POST /personnel` that needs
no database, for 100,000 rows at a time, and the files they become as text.

Two paths with one outcome:

- **by column** (`RowChecker.check`): a slice of rows is turned into columns; each
  *distinct* value of a column is parsed once by the parsers of `import_parsing`
  (a file of 100,000 rows holds a few thousand distinct dates, posts and levels),
  then one lean loop over the rows does what depends on several columns (the ID
  number's checksum and birth date, the working age, the level scheme, probation and
  contract), each from a memo keyed by the values it depends on, with the very
  functions of `personnel_rules.prepare`;
- **by row** (`RowReader` then `prepare`): for every row the columnar pass has any
  doubt about (a value that does not parse, a failed cross-field check). It finds
  the first problem in the order `POST /personnel` reports it, so the refusal is
  worded the same whichever path saw the row first.

What depends on the rows before (a post keeps the category of its first use, an ID
number or external reference repeated in the file) is checked for both paths in one
place, in file order. `tests/test_import_checks.py` runs both paths over random files
of good and bad values and requires the same rows, fields and errors.

A checked row is an `ImportRow`: what landing it needs (seat, reservation, clashes,
its event) and `fields`, the file's columns (`DATA_COLUMNS`) as text, written by COPY
on PostgreSQL (`ImportRow.text`, made while checking) or turned back into values
elsewhere (`import_service.sqlite_values`, by the table's column types).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from functools import partial
from typing import Any, NamedTuple

from services.common import resident_id as rid
from services.roster import import_parsing as ip
from services.roster.level_config import LevelPolicies
from services.roster.levels import LevelPolicy
from services.roster.personnel_rules import (
    MIN_WORKING_AGE,
    FieldProblem,
    Prepared,
    check_hire_date,
    prepare,
    probation_status,
    resident_facts,
    settled_level,
    settled_level_since,
    settled_probation,
)

# The columns of a new file that come from its row, in this order in `ImportRow.fields`.
DATA_COLUMNS = (
    "id_number", "name", "sex", "birth_date", "region", "unit", "post_category", "post",
    "education", "veteran", "political_status", "phone", "hire_date", "probation_months",
    "probation_end", "level", "step", "level_since", "status", "status_since",
    "external_reference",
)  # fmt: skip


class RowError(NamedTuple):
    line: int
    column: str | None
    code: str
    message: str


class ImportRow(NamedTuple):
    """A row that passed every check that needs no database."""

    line: int
    fields: tuple[str, ...]  # DATA_COLUMNS as text, "" for NULL
    reservation_reference: str | None
    # the hiring contract as (kind, start, end or "", probation months), all text
    contract: tuple[str, str, str, str] | None
    text: str  # `fields` as one line of COPY text (FORMAT text, NULL '')

    @property
    def id_number(self) -> str:  # as stored: upper case, no blanks
        return self.fields[0]

    @property
    def name(self) -> str:
        return self.fields[1]

    @property
    def region(self) -> str:
        return self.fields[4]

    @property
    def post_category(self) -> str:
        return self.fields[6]

    @property
    def post(self) -> str:
        return self.fields[7]

    @property
    def hire_date(self) -> str:  # ISO
        return self.fields[12]

    @property
    def status(self) -> str:
        return self.fields[18]

    @property
    def external_reference(self) -> str | None:
        return self.fields[20] or None


# --- text of values --------------------------------------------------------------------------

_ISO: dict[date, str] = {}


def iso(day: date | None) -> str:
    """A date as ISO text (remembered: an import holds a few thousand distinct days)."""
    if day is None:
        return ""
    text = _ISO.get(day)
    if text is None:
        if len(_ISO) > 200_000:
            _ISO.clear()
        text = _ISO[day] = day.isoformat()
    return text


def fields_of(ready: Prepared) -> tuple[str, ...]:
    """The file's DATA_COLUMNS as text, from the row path's result."""
    p = ready.person
    return (
        ready.id_number, p.name, ready.sex, iso(ready.birth_date), p.region, p.unit,
        p.post_category, p.post, p.education, "t" if p.veteran else "f",
        p.political_status or "", p.phone or "", iso(p.hire_date), str(ready.probation_months),
        iso(ready.probation_end), str(ready.level), str(p.step), iso(ready.level_since),
        ready.status, iso(ready.status_since), p.external_reference or "",
    )  # fmt: skip


def row_of(line: int, ready: Prepared) -> ImportRow:
    p = ready.person
    contract = p.contract
    terms = None
    if contract is not None:
        terms = (
            contract.kind,
            iso(contract.start),
            iso(contract.end),
            str(contract.probation_months),
        )
    fields = fields_of(ready)
    return ImportRow(line, fields, p.reservation_reference, terms, copy_line(fields))


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_line(values: Sequence[str]) -> str:
    """Values as one line of COPY text (FORMAT text, NULL ''): tab-separated, a tab, a
    line break or a backslash in a value escaped."""
    line = "\t".join(values)
    if "\\" in line or "\n" in line or "\r" in line or line.count("\t") != len(values) - 1:
        line = "\t".join(v.translate(_COPY_ESCAPES) for v in values)
    return line


# --- the columnar pass -----------------------------------------------------------------------


def _same(text: str) -> str:
    return text


# an ImportRow from a tuple of its fields, without a Python-level __new__ (the hot loop)
new_row: Callable[[tuple[Any, ...]], ImportRow] = partial(tuple.__new__, ImportRow)
_BAD = object()  # a memo's entry for a value or combination that fails a check
MEMO_BOUND = 200_000  # entries a memo keeps before it starts afresh


class _ColumnMemo:
    """A column's distinct values, parsed once for the whole file."""

    __slots__ = ("parse", "parsed", "refused")

    def __init__(self, parse: Callable[[str], Any]) -> None:
        self.parse = parse
        self.parsed: dict[Any, Any] = {}
        self.refused: set[Any] = set()

    def values(self, raw: Sequence[Any], doubtful: set[int]) -> list[Any]:
        """The column parsed (None where it does not parse: those rows join `doubtful`)."""
        parsed = self.parsed
        refused = self.refused
        distinct = set(raw)
        new = distinct.difference(parsed)
        if new:
            if len(parsed) > MEMO_BOUND:
                parsed.clear()
                refused.clear()
                new = distinct
            for cell in new.difference(refused):
                text = cell.strip()
                try:
                    if "\x00" in text:
                        raise FieldProblem("", "invalid_value", "a NUL character")
                    parsed[cell] = self.parse(text)
                except FieldProblem:
                    refused.add(cell)
        if refused and not refused.isdisjoint(distinct):
            doubtful.update(i for i, cell in enumerate(raw) if cell in refused)
        return list(map(parsed.get, raw))


class _TextColumn:
    """A free-text column (names, references): stripped, non-empty when `required`,
    at most `limit` characters, matching `pattern` when given; checked over the whole
    slice at once, row by row only when that finds something."""

    __slots__ = ("empty", "field", "limit", "pattern", "required")

    def __init__(
        self,
        limit: int,
        *,
        required: bool = False,
        pattern: Any = None,
        empty: str | None = "",
    ) -> None:
        self.limit = limit
        self.required = required
        self.pattern = pattern
        self.empty = empty  # what an empty optional value becomes

    def ok(self, text: str) -> bool:
        if "\x00" in text or len(text) > self.limit:
            return False
        if not text:
            return not self.required
        return self.pattern is None or self.pattern.match(text) is not None

    def values(self, raw: Sequence[Any], doubtful: set[int]) -> list[Any]:
        texts = list(map(str.strip, raw))
        joined = "".join(texts)
        suspicious = (
            "\x00" in joined
            or max(map(len, texts)) > self.limit
            or (self.required and not all(texts))
            or (self.pattern is not None and not all(map(self.pattern.match, filter(None, texts))))
        )
        if suspicious:
            doubtful.update(i for i, text in enumerate(texts) if not self.ok(text))
        if self.empty != "" and not all(texts):
            return [text or self.empty for text in texts]
        return texts


# GB 11643 check: the weighted sum of the first 17 digits is the sum of three parts'
# (address, birth date, sequence), remembered from numbers `resident_facts` accepted
_CHECK_CHARS = rid.CHECK_CHARS
_SEX = rid.SEX_BY_DIGIT


class RowChecker:
    """Checks the rows of one file, slice by slice, in file order."""

    def __init__(
        self,
        columns: list[str | None],
        regions: set[str],
        posts: dict[str, str],
        policies: LevelPolicies,
        today: date,
        *,
        cells_are_text: bool = True,
    ) -> None:
        self.read = ip.RowReader(columns)  # the row path; it remembers values too
        self.span = len(columns)
        self.where = {name: pos for pos, name in enumerate(columns) if name}
        self.regions = regions
        self.posts = posts  # post → category: known ones, then first use in the file
        self.policies = policies
        self.today = today
        self.cells_are_text = cells_are_text  # CSV; XLSX cells may be numbers or dates
        self.seen_numbers: dict[str, int] = {}
        self.seen_references: dict[str, int] = {}
        self.single_policy: LevelPolicy | None = (
            None if policies.entries else policies.default.policy
        )
        # memos of the cross-column checks: the values they depend on → result or _BAD
        self.policy_memo: dict[tuple[str, date], LevelPolicy] = {}
        self.level_memo: dict[tuple[int | None, str, int], Any] = {}
        self.since_memo: dict[tuple[date, date | None], Any] = {}
        self.terms_memo: dict[tuple[date, str, str, str, str], Any] = {}
        self.addresses: dict[str, int] = {}  # the ID number's parts → weighted sums
        self.births: dict[str, tuple[int, str]] = {}  # … and the birth date (ISO)
        self.sequences: dict[str, int] = {}
        text = _TextColumn
        parsers: dict[str, Callable[[str], Any] | _TextColumn] = {
            "name": text(50, required=True),
            "region": self._region,
            "unit": lambda t: ip._required(t, "unit", 100),
            "post_category": self._category,
            "post": self._post,
            "education": self._education,
            "veteran": lambda t: "t" if (ip._bool(t, "veteran") if t else False) else "f",
            "political_status": self._political,
            "phone": text(20, pattern=ip._PHONE),
            "hire_date": self._hire_date,
            "level": lambda t: ip._int(t, "level", 1, 9) if t else None,
            "step": lambda t: str(ip._int(t, "step", 1, 50) or 1) if t else "1",
            # the text too: the contract's months are read from it
            "probation_months": lambda t: (t, ip._int(t, "probation_months", 0, 6) if t else None),
            "contract_kind": _same,
            "contract_start": _same,
            "contract_end": _same,
            "reservation_reference": text(200, empty=None),
            "external_reference": text(200),
            "level_since": lambda t: ip._optional_date(t, "level_since"),
        }
        # the ID number is not among them: it is checked row by row
        self.columns = {
            name: parse if isinstance(parse, _TextColumn) else _ColumnMemo(parse)
            for name, parse in parsers.items()
        }

    # -- single values (the parsers RowReader uses, and the checks prepare makes of them)

    def _region(self, text: str) -> str:
        region = ip._required(text, "region", 9)
        if region not in self.regions:
            raise FieldProblem("region", "region_not_found", f"region {region} not found")
        return region

    @staticmethod
    def _category(text: str) -> str:
        return ip._CATEGORIES.get(text) or ip._choice(text, "post_category", ip._CATEGORIES)

    @staticmethod
    def _post(text: str) -> str:
        post = ip._required(text, "post", 40).lower()
        if not ip._POST.match(post):
            raise FieldProblem("post", "invalid_value", "post must be a lower-case word")
        return post

    @staticmethod
    def _education(text: str) -> str:
        return ip._EDUCATION.get(text) or ip._choice(text, "education", ip._EDUCATION)

    @staticmethod
    def _political(text: str) -> str:
        return ip._choice(text, "political_status", ip._POLITICAL) if text else ""

    def _hire_date(self, text: str) -> tuple[date, str, str]:
        """The date, its ISO text, and the latest birth date (ISO) of someone of working
        age that day: `age_on(birth, hired) >= MIN_WORKING_AGE` exactly when the birth
        date's ISO text sorts at or before it (it may name a 29 February that does not
        exist, which compares all the same)."""
        hired = ip._date(text, "hire_date")
        check_hire_date(hired, self.today)
        latest_birth = f"{hired.year - MIN_WORKING_AGE:04d}-{hired.month:02d}-{hired.day:02d}"
        return hired, iso(hired), latest_birth

    # -- what depends on several values, remembered by the values it depends on

    def _resident(self, text: str) -> tuple[str, str] | None:
        """(number, sex) as `resident_facts` gives them, and the parts of the number
        remembered; None when it refuses the number."""
        try:
            number, birth, sex = resident_facts(text)
        except FieldProblem:
            return None
        if len(self.births) > MEMO_BOUND:
            self.births.clear()
        address, born, sequence = number[:6], number[6:14], number[14:17]
        if address not in self.addresses:
            self.addresses[address] = rid.weighted_sum(address, 0)
        if born not in self.births:
            self.births[born] = (rid.weighted_sum(born, 6), iso(birth))
        if sequence not in self.sequences:
            self.sequences[sequence] = rid.weighted_sum(sequence, 14)
        return number, sex

    def _policy(self, region: str, hired: date) -> LevelPolicy:
        key = (region, hired)
        policy = self.policy_memo.get(key)
        if policy is None:
            if len(self.policy_memo) > MEMO_BOUND:
                self.policy_memo.clear()
            policy = self.policy_memo[key] = self.policies.for_region(region, hired)
        return policy

    def _level(self, level: int | None, education: str, policy: LevelPolicy) -> Any:
        try:
            return str(settled_level(level, education, policy))
        except FieldProblem:
            return _BAD

    def _since(self, hired: date, level_since: date | None) -> Any:
        try:
            return iso(settled_level_since(level_since, hired, self.today))
        except FieldProblem:
            return _BAD

    def _terms(self, hired: date, probation: tuple[str, int | None], contract: Any) -> Any:
        """(probation months, probation end, status, status since, contract) as text."""
        kind, start, end = contract
        try:
            terms = ip.contract_terms(kind, start, end, probation[0], hired)
            settled = settled_probation(terms, probation[1], hired)
            last, status, since = probation_status(hired, settled, self.today)
        except FieldProblem:
            return _BAD
        text = None
        if terms is not None:
            text = (terms.kind, iso(terms.start), iso(terms.end), str(terms.probation_months))
        return (str(settled), iso(last), status, iso(since), text)

    # -- the file's order

    def _remember(
        self, line: int, number: str, post: str, category: str, reference: str | None
    ) -> None:
        """What depends on the rows before: a post keeps its first category; an ID
        number or an external reference appears once in the file."""
        known = self.posts.get(post)
        if known is None:
            self.posts[post] = category
        elif known != category:
            raise FieldProblem(
                "post",
                "post_category_mismatch",
                f"post {post} is a {known} post, not {category}",
            )
        first = self.seen_numbers.get(number)
        if first is not None:
            raise FieldProblem(
                "id_number", "duplicate_in_file", f"the same ID number as line {first}"
            )
        if reference:
            earlier = self.seen_references.get(reference)
            if earlier is not None:
                raise FieldProblem(
                    "external_reference",
                    "duplicate_in_file",
                    f"the same external_reference as line {earlier}",
                )
            self.seen_references[reference] = line
        self.seen_numbers[number] = line

    def by_row(self, line: int, cells: list[Any]) -> ImportRow:
        """The row path: RowReader, the region, `prepare`, then the file's order."""
        person = self.read(cells)
        if person.region not in self.regions:
            raise FieldProblem("region", "region_not_found", f"region {person.region} not found")
        policy = self.policies.for_region(person.region, person.hire_date)
        ready = prepare(person, policy, self.today)
        self._remember(
            line, ready.id_number, person.post, person.post_category, person.external_reference
        )
        return row_of(line, ready)

    def _text_cells(self, cells: list[Any]) -> list[Any]:
        """A row as RowReader sees it: `span` cells, each as text."""
        span = self.span
        if len(cells) != span:
            cells = cells[:span] + [""] * (span - len(cells))
        if not self.cells_are_text:
            cells = [c if c.__class__ is str else ip._text(c) for c in cells]
        return cells

    def check(self, rows: list[tuple[int, list[Any]]]) -> tuple[list[ImportRow], list[RowError]]:
        """Check a slice of rows, in file order: the rows that pass, and the errors."""
        good: list[ImportRow] = []
        errors: list[RowError] = []
        if not rows:
            return good, errors
        span = self.span
        lines = [line for line, _ in rows]
        table = [
            cells if len(cells) == span and self.cells_are_text else self._text_cells(cells)
            for _, cells in rows
        ]
        by_position = list(zip(*table, strict=True))
        blank = ("",) * len(rows)
        doubtful: set[int] = set()
        id_numbers = by_position[self.where["id_number"]]
        parsed = [
            memo.values(by_position[pos] if (pos := self.where.get(name)) is not None else blank,
                        doubtful)
            for name, memo in self.columns.items()
        ]  # fmt: skip

        append = good.append
        by_row = self.by_row
        resident = self._resident
        addresses, births, sequences = self.addresses, self.births, self.sequences
        single_policy = self.single_policy
        policy_of = self._policy
        level_memo, since_memo, terms_memo = self.level_memo, self.since_memo, self.terms_memo
        posts, seen_numbers, seen_references = self.posts, self.seen_numbers, self.seen_references
        for i, (
            line, number, name, region, unit, category, post, education, veteran, political,
            phone, hire, level, step, probation, kind, start, end, reservation, reference,
            level_since,
        ) in enumerate(zip(lines, id_numbers, *parsed, strict=True)):  # fmt: skip
            try:
                if i in doubtful:
                    append(by_row(line, table[i]))
                    continue
                # the ID number: its check character, birth date and sex
                number = number.strip()
                hired, hire_text, latest_birth = hire
                address = addresses.get(number[:6])
                birth_facts = births.get(number[6:14])
                sequence = sequences.get(number[14:17])
                sex = _SEX.get(number[16:17])
                if (
                    address is None
                    or birth_facts is None
                    or sequence is None
                    or sex is None
                    or len(number) != 18
                    or _CHECK_CHARS[(address + birth_facts[0] + sequence) % 11] != number[17]
                ):
                    facts = resident(number)
                    if facts is None:
                        append(by_row(line, table[i]))
                        continue
                    number, sex = facts
                    birth_text = births[number[6:14]][1]
                else:
                    birth_text = birth_facts[1]
                # working age on the hire date
                if birth_text > latest_birth:
                    append(by_row(line, table[i]))
                    continue
                # level, level since, probation and contract: memos by what they read
                policy = single_policy or policy_of(region, hired)
                key = (level, education, id(policy))
                the_level = level_memo.get(key)
                if the_level is None:
                    the_level = level_memo[key] = self._level(level, education, policy)
                since_key = (hired, level_since)
                since = since_memo.get(since_key)
                if since is None:
                    since = since_memo[since_key] = self._since(hired, level_since)
                terms_key = (hired, probation, kind, start, end)
                terms = terms_memo.get(terms_key)
                if terms is None:
                    terms = terms_memo[terms_key] = self._terms(
                        hired, probation, (kind, start, end)
                    )
                if the_level is _BAD or since is _BAD or terms is _BAD:
                    append(by_row(line, table[i]))
                    continue
                # the file's order (as `_remember`, inline for the common row)
                known = posts.get(post)
                if (
                    known != category
                    or number in seen_numbers
                    or (reference and reference in seen_references)
                ):
                    self._remember(line, number, post, category, reference)
                seen_numbers[number] = line
                if reference:
                    seen_references[reference] = line
                settled, last, status, status_since, contract = terms
                fields = (
                    number, name, sex, birth_text, region, unit, category, post, education,
                    veteran, political, phone, hire_text, settled, last, the_level, step, since,
                    status, status_since, reference,
                )  # fmt: skip
                append(new_row((line, fields, reservation, contract, copy_line(fields))))
            except FieldProblem as exc:
                errors.append(RowError(line, exc.field, exc.code, exc.message))
        if len(level_memo) + len(since_memo) + len(terms_memo) > MEMO_BOUND:
            level_memo.clear()
            since_memo.clear()
            terms_memo.clear()
        return good, errors
