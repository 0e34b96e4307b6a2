"""Reading personnel import files: CSV (UTF-8, with or without BOM, or GB18030 as
exported by Chinese Excel; comma, semicolon or tab) and XLSX (first sheet).

The first row names the columns, in English or Chinese (see `COLUMNS`). Unknown or
repeated columns refuse the whole file, as unknown fields refuse a JSON body. Each
row is turned into a `NewPerson` or a `FieldProblem` naming its column; values may be
written the way a county clerk writes them (勤务, 大专, 是/否, 2024/3/1).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from itertools import islice
from operator import itemgetter
from typing import Any

from services.common.education import Education
from services.roster.personnel_rules import ContractTerms, FieldProblem, NewPerson

COLUMNS: dict[str, tuple[str, ...]] = {
    "id_number": ("身份证号", "身份证号码", "公民身份号码"),
    "name": ("姓名",),
    "region": ("区划代码", "行政区划代码", "region_code"),
    "unit": ("单位", "工作单位"),
    "post_category": ("岗位类别", "category"),
    "post": ("岗位",),
    "education": ("学历",),
    "veteran": ("退役军人", "是否退役军人"),
    "political_status": ("政治面貌",),
    "phone": ("电话", "联系电话", "手机"),
    "hire_date": ("入职日期", "聘用日期", "hired"),
    "level": ("等级", "辅警等级"),
    "step": ("档次", "级档"),
    "probation_months": ("试用期", "试用期月数"),
    "contract_kind": ("合同类型",),
    "contract_start": ("合同开始日期", "合同起始日期"),
    "contract_end": ("合同结束日期", "合同终止日期"),
    "reservation_reference": ("预留编号",),
    "external_reference": ("外部编号",),
    "level_since": ("定级日期", "等级起算日期"),
}
REQUIRED = (
    "id_number",
    "name",
    "region",
    "unit",
    "post_category",
    "post",
    "education",
    "hire_date",
)
_ALIASES = {alias.lower(): canonical for canonical, names in COLUMNS.items() for alias in names}
_ALIASES.update({name: name for name in COLUMNS})

_CATEGORIES: dict[str, str] = {
    "duty": "duty",
    "勤务": "duty",
    "勤务辅警": "duty",
    "civilian": "civilian",
    "文职": "civilian",
    "文职辅警": "civilian",
}
_EDUCATION: dict[str, str] = {e.value: e.value for e in Education} | {
    "初中": Education.JUNIOR_HIGH.value,
    "高中": Education.SENIOR_HIGH.value,
    "中专": Education.SENIOR_HIGH.value,
    "高中/中专": Education.SENIOR_HIGH.value,
    "职高": Education.SENIOR_HIGH.value,
    "大专": Education.JUNIOR_COLLEGE.value,
    "专科": Education.JUNIOR_COLLEGE.value,
    "本科": Education.BACHELOR.value,
    "大学本科": Education.BACHELOR.value,
    "硕士": Education.MASTER.value,
    "硕士研究生": Education.MASTER.value,
    "研究生": Education.MASTER.value,
    "博士": Education.DOCTORATE.value,
    "博士研究生": Education.DOCTORATE.value,
}
_POLITICAL: dict[str, str] = {
    "party_member": "party_member",
    "中共党员": "party_member",
    "党员": "party_member",
    "probationary_party_member": "probationary_party_member",
    "中共预备党员": "probationary_party_member",
    "预备党员": "probationary_party_member",
    "league_member": "league_member",
    "共青团员": "league_member",
    "团员": "league_member",
    "democratic_party": "democratic_party",
    "民主党派": "democratic_party",
    "masses": "masses",
    "群众": "masses",
}
_CONTRACT_KINDS: dict[str, str] = {
    "labour": "labour",
    "labor": "labour",
    "劳动合同": "labour",
    "劳动": "labour",
    "dispatch": "dispatch",
    "劳务派遣": "dispatch",
    "派遣": "dispatch",
}
_TRUE = {"1", "true", "yes", "y", "是", "t"}
_FALSE = {"", "0", "false", "no", "n", "否", "f"}
_POST = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 -]{4,19}$")
_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


class ImportFileError(Exception):
    """The file as a whole cannot be imported (422 invalid_import_file)."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []


def detect_format(content: bytes, filename: str) -> str:
    if content[:4] == b"PK\x03\x04" or filename.lower().endswith(".xlsx"):
        return "xlsx"
    return "csv"


def _decode(content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return content.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise ImportFileError("the CSV file is neither UTF-8 nor GB18030 text") from exc


def _delimiter(first_line: str) -> str:
    return max((",", "\t", ";"), key=first_line.count)


def map_header(cells: list[Any]) -> list[str | None]:
    """Canonical column names by position (None for blank trailing columns)."""
    columns: list[str | None] = []
    errors: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for position, raw in enumerate(cells, start=1):
        text = "" if raw is None else str(raw).strip().lstrip("\ufeff")
        if not text:
            columns.append(None)
            continue
        canonical = _ALIASES.get(text.lower())
        if canonical is None:
            errors.append({"loc": ["header", position], "msg": f"unknown column {text!r}"})
            columns.append(None)
            continue
        if canonical in seen:
            errors.append({"loc": ["header", position], "msg": f"column {canonical} repeated"})
        seen[canonical] = position
        columns.append(canonical)
    missing = [c for c in REQUIRED if c not in seen]
    if missing:
        errors.append({"loc": ["header"], "msg": f"missing columns: {', '.join(missing)}"})
    if errors:
        raise ImportFileError("the header row does not fit the personnel import", errors)
    return columns


@dataclass
class ImportFile:
    fmt: str
    columns: list[str | None]
    total: int
    _rows: Callable[[], Iterator[tuple[int, list[Any]]]]

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        """(line number, cells) of each non-blank data row; the header is line 1."""
        return self._rows()


def _blank(cells: list[Any]) -> bool:
    return all(c is None or (c.__class__ is str and not c.strip()) for c in cells)


def _blank_csv(cells: list[str]) -> bool:
    if cells and cells[0].strip():
        return False
    return not "".join(cells).strip()


def _plain_lines(text: str) -> list[str] | None:
    """The lines of a CSV text that `csv.reader` would read as the lines split at the
    delimiter: no quote character, no line break but \n or \r\n, no line longer than
    the csv module's field limit. None for any other text (read by `csv.reader`)."""
    if '"' in text:
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            return None
    lines = text.split("\n")
    if lines and not lines[-1]:
        lines.pop()  # the final line break ends the last row
    if lines and max(map(len, lines)) > csv.field_size_limit():
        return None
    return lines


def _blank_line(line: str, delimiter: str) -> bool:
    """`_blank_csv` of the line's cells."""
    if line.split(delimiter, 1)[0].strip():
        return False
    return not line.replace(delimiter, "").strip()


def open_csv(content: bytes) -> ImportFile:
    text = _decode(content)
    first = text.split("\n", 1)[0]
    delimiter = _delimiter(first)
    lines = _plain_lines(text)
    if lines is not None:
        # the usual export (no quoted values): split each line, as csv.reader would
        header = lines[0].split(delimiter) if lines else None
        if header is None:
            raise ImportFileError("the file is empty")
        columns = map_header(header)
        total = sum(1 for line in islice(lines, 1, None) if not _blank_line(line, delimiter))

        def split() -> Iterator[tuple[int, list[Any]]]:
            for number, line in enumerate(islice(lines, 1, None), start=2):
                cells = line.split(delimiter)
                if not _blank_csv(cells):
                    yield number, cells

        return ImportFile("csv", columns, total, split)

    def reader() -> Any:
        return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)

    try:
        rows = reader()
        header = next(rows, None)
        if header is None:
            raise ImportFileError("the file is empty")
        columns = map_header(header)
        total = sum(1 for row in rows if not _blank_csv(row))
    except csv.Error as exc:
        raise ImportFileError(f"the CSV file cannot be read: {exc}") from exc

    def iterate() -> Iterator[tuple[int, list[Any]]]:
        rows = reader()
        next(rows)
        for row in rows:
            if not _blank_csv(row):
                yield rows.line_num, row

    return ImportFile("csv", columns, total, iterate)


def open_xlsx(content: bytes) -> ImportFile:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise ImportFileError("the XLSX file cannot be opened") from exc
    sheet = book.worksheets[0] if book.worksheets else None
    if sheet is None:
        raise ImportFileError("the XLSX file has no sheet")
    rows = sheet.iter_rows(values_only=True)
    header = next(rows, None)
    if header is None:
        raise ImportFileError("the file is empty")
    columns = map_header(list(header))
    total = sum(1 for row in rows if not _blank(list(row)))

    def iterate() -> Iterator[tuple[int, list[Any]]]:
        for line, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            if line == 1:
                continue
            cells = list(row)
            if not _blank(cells):
                yield line, cells

    return ImportFile("xlsx", columns, total, iterate)


def open_import(content: bytes, filename: str) -> ImportFile:
    if not content.strip():
        raise ImportFileError("the file is empty")
    if detect_format(content, filename) == "xlsx":
        return open_xlsx(content)
    return open_csv(content)


# --- values ------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """A cell as stripped text (XLSX cells may be numbers or dates)."""
    if value.__class__ is str:
        return str(value).strip()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


# The parsers below take a cell already turned into stripped text by `_text`.


def _too_long(field: str, limit: int) -> FieldProblem:
    return FieldProblem(field, "invalid_value", f"{field} is longer than {limit} characters")


def _required(text: str, field: str, limit: int) -> str:
    if not text:
        raise FieldProblem(field, "missing_value", f"{field} is required")
    if len(text) > limit:
        raise _too_long(field, limit)
    return text


def _optional(text: str, field: str, limit: int) -> str | None:
    if len(text) > limit:
        raise _too_long(field, limit)
    return text or None


def _date(text: str, field: str) -> date:
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass  # reported below with the other spellings
    match = _DATE.match(text) or _COMPACT_DATE.match(text)
    if match is None:
        raise FieldProblem(field, "invalid_date", f"{field} must be a date like 2024-03-01")
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError as exc:
        raise FieldProblem(field, "invalid_date", f"{field} is not a real date") from exc


def _optional_date(text: str, field: str) -> date | None:
    return _date(text, field) if text else None


def _int(text: str, field: str, low: int, high: int) -> int | None:
    text = text.removesuffix("级").removesuffix("档").removesuffix("个月")
    if not text:
        return None
    try:
        number = int(text)
    except ValueError as exc:
        raise FieldProblem(field, "invalid_value", f"{field} must be a whole number") from exc
    if not low <= number <= high:
        raise FieldProblem(field, "invalid_value", f"{field} must be {low} to {high}")
    return number


def _choice(text: str, field: str, choices: dict[str, str]) -> str:
    found = choices.get(text)
    if found is None:
        found = choices.get(text.lower())
    if found is None:
        shown = sorted(set(choices.values()))
        raise FieldProblem(field, "invalid_value", f"{field} must be one of {', '.join(shown)}")
    return found


def _bool(text: str, field: str) -> bool:
    text = text.lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise FieldProblem(field, "invalid_value", f"{field} must be yes or no (是/否)")


def contract_terms(
    kind: str, start: str, end: str, probation: str, hired: date
) -> ContractTerms | None:
    """The hiring contract a row describes (its columns as stripped text), or None."""
    if kind:
        return ContractTerms(
            _choice(kind, "contract_kind", _CONTRACT_KINDS),
            _optional_date(start, "contract_start") or hired,
            _optional_date(end, "contract_end"),
            _int(probation, "probation_months", 0, 6) or 0,
        )
    if start or end:
        raise FieldProblem("contract_kind", "missing_value", "contract dates need contract_kind")
    return None


_FIELDS = tuple(COLUMNS)
_SLOT = {name: i for i, name in enumerate(_FIELDS)}


class RowReader:
    """Turns rows of one file into new files, fast: the column positions are resolved
    once into one `itemgetter`, each value goes through one small parser, and the
    parsed values of the columns that repeat from row to row (dates, posts, levels)
    are remembered: a file of 100,000 rows has a few thousand distinct ones."""

    def __init__(self, columns: list[str | None]) -> None:
        self.positions = [(pos, _SLOT[name]) for pos, name in enumerate(columns) if name]
        self.width = len(_FIELDS)
        # every field by position in the row, an absent one at the blank added after it
        self.span = len(columns)
        where = dict.fromkeys(range(self.width), self.span)
        where.update({slot: pos for pos, slot in self.positions})
        self.pick = itemgetter(*(where[slot] for slot in range(self.width)))
        self.tail = [""]
        # text → parsed value, for values that parsed (a bad one is parsed again to raise)
        self.posts: dict[str, str] = {}
        self.dates: dict[str, date] = {}
        self.levels: dict[str, int | None] = {}
        self.steps: dict[str, int] = {}

    def __call__(self, cells: list[Any]) -> NewPerson:
        """One row as a new file; raises FieldProblem for the first bad value."""
        span = self.span
        n = len(cells)
        if n != span:
            cells = cells[:span] + [""] * (span - n) if n < span else cells[:span]
        raw = self.pick(cells + self.tail)
        try:
            v = [cell.strip() for cell in raw]
        except AttributeError:  # XLSX cells: numbers, dates, None
            v = [cell.strip() if cell.__class__ is str else _text(cell) for cell in raw]
        (
            id_number, name, region, unit, category, post, education, veteran, political,
            phone, hire_date, level, step, probation, contract_kind, contract_start,
            contract_end, reservation_reference, external_reference, level_since,
        ) = v  # fmt: skip
        if "\x00" in "".join(v):
            # PostgreSQL text cannot hold NUL: the row is refused, not the whole import
            field = _FIELDS[next(i for i, text in enumerate(v) if "\x00" in text)]
            raise FieldProblem(field, "invalid_value", f"{field} holds a NUL character")
        known_post = self.posts.get(post)
        if known_post is None:
            known_post = _required(post, "post", 40).lower()
            if not _POST.match(known_post):
                raise FieldProblem(
                    "post",
                    "invalid_value",
                    "post must be a lower-case word such as patrol or clerk",
                )
            self.posts[post] = known_post
        if phone and (len(phone) > 20 or not _PHONE.match(phone)):  # as POST /personnel
            raise FieldProblem("phone", "invalid_value", "phone is not a telephone number")
        hired = self.dates.get(hire_date)
        if hired is None:
            hired = self.dates[hire_date] = _date(hire_date, "hire_date")
        contract = contract_terms(contract_kind, contract_start, contract_end, probation, hired)
        # in the order of NewPerson's fields: the first bad one is the one reported
        if not id_number:
            raise FieldProblem("id_number", "missing_value", "id_number is required")
        if len(id_number) > 40:
            raise _too_long("id_number", 40)
        name = _required(name, "name", 50)
        region = _required(region, "region", 9)
        unit = _required(unit, "unit", 100)
        category = _CATEGORIES.get(category) or _choice(category, "post_category", _CATEGORIES)
        education = _EDUCATION.get(education) or _choice(education, "education", _EDUCATION)
        is_veteran = _bool(veteran, "veteran") if veteran else False
        political_status = _choice(political, "political_status", _POLITICAL) if political else None
        the_level: int | None = None
        if level:
            try:
                the_level = self.levels[level]
            except KeyError:
                the_level = self.levels[level] = _int(level, "level", 1, 9)
        the_step = 1
        if step:
            known_step = self.steps.get(step)
            if known_step is None:
                known_step = self.steps[step] = _int(step, "step", 1, 50) or 1
            the_step = known_step
        return NewPerson(
            id_number=id_number,
            name=name,
            region=region,
            unit=unit,
            post_category=category,
            post=known_post,
            education=education,
            veteran=is_veteran,
            political_status=political_status,
            phone=phone or None,
            hire_date=hired,
            level=the_level,
            step=the_step,
            probation_months=_int(probation, "probation_months", 0, 6) if probation else None,
            contract=contract,
            reservation_reference=_optional(reservation_reference, "reservation_reference", 200),
            external_reference=_optional(external_reference, "external_reference", 200),
            level_since=_optional_date(level_since, "level_since"),
        )
