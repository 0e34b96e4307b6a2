"""Stage results: scores (written, interview, scored fitness) and pass/fail gates
(fitness, medical with one re-examination, political review).

Every result is a `score_entries` row; the application keeps the current value for the
stage closes. A result already recorded is replaced only by a correction with a reason,
which is a new entry. Gate failures take effect at once: the place is lost and the
ranked backfill runs (a first medical failure waits for the re-examination window).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal
from kernel.errors import DomainError
from services.common.resident_id import Sex, age_on
from services.recruitment import bulk, clock
from services.recruitment.campaign_state import CampaignContext
from services.recruitment.errors import (
    NotInStage,
    ResultExists,
    StageNotOpen,
    ValidationProblem,
)
from services.recruitment.events import Event, record
from services.recruitment.fitness import (
    DEFAULT_STANDARD,
    FitnessItem,
    judge_fitness,
    parse_duration,
)
from services.recruitment.models import Application, ScoreEntry, table_of
from services.recruitment.placement import Loss, lose
from services.recruitment.ranking import Status, interview_score
from services.recruitment.rules import LossCause
from services.recruitment.stages import MedicalOutcome, Stage, medical_outcome, result_kind
from services.recruitment.tabular import parse_bool

A = table_of(Application)
S = table_of(ScoreEntry)
_CENT = Decimal("0.01")
_MAX_ERRORS = 50
SCORE_ENTRY_COLUMNS = (
    "application_id",
    "campaign_id",
    "stage",
    "kind",
    "score",
    "passed",
    "absent",
    "detail",
    "reason",
    "entered_by",
    "entered_at",
)


@dataclass(slots=True)
class Result:
    """One submitted result, from JSON or a row of an uploaded table."""

    index: int
    application_id: int
    score: Decimal | None = None
    examiner_scores: list[Decimal] | None = None
    passed: bool | None = None
    measurements: dict[str, Any] | None = None
    absent: bool = False
    reason: str | None = None
    correction_reason: str | None = None
    # filled while processing
    kind: str = "result"
    detail: dict[str, Any] | None = field(default=None)


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.codes: Counter[str] = Counter()

    def add(self, index: int, field_name: str, code: str, msg: str) -> None:
        self.codes[code] += 1
        if len(self.items) < _MAX_ERRORS:
            self.items.append({"loc": [index, field_name], "msg": msg, "type": code})

    def raise_if_any(self, what: str) -> None:
        if not self.codes:
            return
        code = next(iter(self.codes)) if len(self.codes) == 1 else "invalid_results"
        total = sum(self.codes.values())
        raise ValidationProblem(
            f"{total} {what} refused: "
            + ", ".join(f"{n} {c}" for c, n in self.codes.most_common()),
            code=code,
            errors=self.items,
        )


def _check_score(value: Decimal, errors: _Errors, index: int, name: str) -> None:
    if not value.is_finite() or value < 0 or value > 100:
        errors.add(index, name, "score_out_of_range", f"{value} is outside 0–100")
        return
    if value != value.quantize(_CENT):  # finite and at most 100: quantize is exact
        errors.add(index, name, "score_precision", f"{value} has more than two decimals")


def validate_shapes(stage: Stage, fitness_scored: bool, results: Sequence[Result]) -> None:
    """Each result has the shape its stage takes; scores are 0–100 with ≤ 2 decimals."""
    kind = result_kind(stage, fitness_scored)
    scored = kind == "score"
    accepted = _accepted(stage, kind)
    errors = _Errors()
    seen: set[int] = set()
    for r in results:
        if r.application_id in seen:
            errors.add(r.index, "application_id", "duplicate_result", "given twice")
        seen.add(r.application_id)
        given = (
            (r.score is not None)
            + (r.examiner_scores is not None)
            + (r.passed is not None)
            + (r.measurements is not None)
            + r.absent
        )
        if given != 1:
            errors.add(
                r.index,
                "score" if scored else "passed",
                "result_kind_mismatch",
                f"give exactly one of {accepted}",
            )
            continue
        wrong = (
            (r.score is not None and not scored)
            or (r.examiner_scores is not None and "examiner_scores" not in accepted)
            or (r.passed is not None and scored)
            or (r.measurements is not None and "measurements" not in accepted)
        )
        if wrong:
            errors.add(
                r.index,
                "score" if scored else "passed",
                "result_kind_mismatch",
                f"the {stage.value} stage takes {accepted}",
            )
            continue
        if r.score is not None:
            _check_score(r.score, errors, r.index, "score")
        elif r.examiner_scores is not None:
            for value in r.examiner_scores:
                _check_score(value, errors, r.index, "examiner_scores")
        elif r.passed is False and not r.reason:
            errors.add(r.index, "reason", "reason_required", "a failure needs a reason")
    errors.raise_if_any("results")


def _accepted(stage: Stage, kind: str | None) -> tuple[str, ...]:
    if kind == "score":
        extra = ("examiner_scores",) if stage is Stage.INTERVIEW else ()
        return ("score", *extra, "absent")
    extra = ("measurements",) if stage is Stage.FITNESS else ()
    return ("passed", *extra, "absent")


# --- reading results from JSON and uploads ----------------------------------------------------


def from_json(items: Sequence[Any]) -> list[Result]:
    """From validated `ResultIn` models."""
    return [
        Result(
            index=i,
            application_id=item.application_id,
            score=item.score,
            examiner_scores=item.examiner_scores,
            passed=item.passed,
            measurements=(
                {k.value: v for k, v in item.measurements.items()}
                if item.measurements is not None
                else None
            ),
            absent=item.absent,
            reason=item.reason,
            correction_reason=item.correction_reason,
        )
        for i, item in enumerate(items)
    ]


_TABLE_COLUMNS = frozenset(
    {
        "application_id",
        "score",
        "examiner_scores",
        "passed",
        "absent",
        "reason",
        "correction_reason",
        *(item.value for item in FitnessItem),
    }
)


def from_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[Result]:
    """From an uploaded table: application_id, then score (or examiner_scores, separated
    by ";"), passed, absent, reason, correction_reason, or fitness measurement columns.
    Rows are numbered from 1 (the header is row 0)."""
    if not rows:
        raise ValidationProblem("the file has no results", code="empty_file")
    named = [h for h in header if h]
    unknown = sorted(set(named) - _TABLE_COLUMNS)
    if unknown:
        raise ValidationProblem(f"unknown columns: {', '.join(unknown)}", code="unknown_column")
    if "application_id" not in named:
        raise ValidationProblem("the file needs an application_id column", code="invalid_header")

    def at(name: str) -> int | None:
        return header.index(name) if name in header else None

    i_id = header.index("application_id")
    i_score, i_examiners = at("score"), at("examiner_scores")
    i_passed, i_absent = at("passed"), at("absent")
    i_reason, i_correction = at("reason"), at("correction_reason")
    items = [(item.value, header.index(item.value)) for item in FitnessItem if item.value in header]
    width = len(header)
    errors = _Errors()
    out: list[Result] = []
    for n, raw in enumerate(rows, start=1):
        row = raw if len(raw) >= width else [*raw, *([""] * (width - len(raw)))]
        try:
            app_id = int(row[i_id])
        except ValueError:
            errors.add(n, "application_id", "invalid_value", "not a whole number")
            continue
        score: Decimal | None = None
        examiner_scores: list[Decimal] | None = None
        passed: bool | None = None
        absent = False
        try:
            if i_score is not None and (text := row[i_score].strip()):
                score = _decimal(text)
            if i_examiners is not None and (text := row[i_examiners].strip()):
                examiner_scores = [_decimal(p) for p in text.split(";") if p.strip()]
            if i_passed is not None:
                passed = parse_bool(row[i_passed])
            if i_absent is not None:
                absent = bool(parse_bool(row[i_absent]))
        except ValueError as exc:
            errors.add(n, "score", "invalid_value", str(exc))
            continue
        measurements: dict[str, Any] | None = None
        if items:
            measurements = {k: row[i].strip() for k, i in items if row[i].strip()} or None
        # positional: 100,000 rows
        out.append(
            Result(
                n,
                app_id,
                score,
                examiner_scores,
                passed,
                measurements,
                absent,
                (row[i_reason].strip() or None) if i_reason is not None else None,
                (row[i_correction].strip() or None) if i_correction is not None else None,
            )
        )
    errors.raise_if_any("rows")
    return out


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a number")
    return value


# --- recording ---------------------------------------------------------------------------------


@dataclass
class Recorded:
    recorded: int
    corrections: int
    losses: list[Loss]


_SCORE_COLUMNS = {
    Stage.WRITTEN: ("written", "written_absent"),
    Stage.INTERVIEW: ("interview", "interview_absent"),
    Stage.FITNESS: ("fitness_score", "fitness_absent"),
}


_GATE_COLUMNS = (
    "sex",
    "birth_date",
    "post",
    "fitness_passed",
    "fitness_absent",
    "medical_first",
    "medical_recheck_requested",
    "medical_recheck",
    "political_passed",
    "owed_gates",
)


async def _targets(
    session: AsyncSession, ctx: CampaignContext, ids: Sequence[int], columns: Sequence[str]
) -> dict[int, Any]:
    cols = (A.c.id, A.c.status, *(A.c[name] for name in columns))
    if len(ids) > 1000:  # most of the campaign: one pass over it beats a long IN list
        stmt = select(*cols).where(A.c.campaign_id == ctx.id)
        wanted = set(ids)
        return {r.id: r for r in (await session.execute(stmt)).all() if r.id in wanted}
    stmt = select(*cols).where(A.c.campaign_id == ctx.id, A.c.id.in_(list(ids)))
    return {r.id: r for r in (await session.execute(stmt)).all()}


async def record_results(
    session: AsyncSession,
    ctx: CampaignContext,
    principal: Principal,
    stage: Stage,
    results: list[Result],
) -> Recorded:
    ctx.ensure_active()
    if not results:
        raise ValidationProblem("no results given", code="empty_results")
    with bulk.gc_paused():
        validate_shapes(stage, ctx.fitness_scored, results)
        if result_kind(stage, ctx.fitness_scored) == "score":
            return await _record_scores(session, ctx, principal, stage, results)
    targets = await _targets(session, ctx, [r.application_id for r in results], _GATE_COLUMNS)
    _unknown(results, targets)
    return await _record_gates(session, ctx, principal, stage, results, targets)


def _refuse(bad: list[int], error: type[DomainError], message: str) -> None:
    if bad:
        raise error(
            f"{len(bad)} {message}: " + ", ".join(str(i) for i in bad[:20]),
            application_ids=bad[:100],
        )


def _refuse_unmatched(exists: list[int], nothing: list[int]) -> None:
    """A new result for an application that has one, or a correction for one that has
    none: the batch is refused."""
    _refuse(exists, ResultExists, "application(s) already have a result; send a correction_reason")
    if nothing:
        raise ValidationProblem(
            f"{len(nothing)} correction(s) have no result to correct: "
            + ", ".join(str(i) for i in nothing[:20]),
            code="nothing_to_correct",
        )


async def _score_targets(
    session: AsyncSession, ctx: CampaignContext, stage: Stage, ids: Sequence[int]
) -> dict[int, tuple[str, Decimal | None, bool]]:
    """id → (status, current score, absent) for the applications of `ids` in the campaign."""
    value_col, absent_col = _SCORE_COLUMNS[stage]
    stmt = select(A.c.id, A.c.status, A.c[value_col], A.c[absent_col]).where(
        A.c.campaign_id == ctx.id
    )
    if len(ids) <= 1000:
        stmt = stmt.where(A.c.id.in_(list(ids)))
    return {row[0]: (row[1], row[2], row[3]) for row in await bulk.fetch(session, stmt)}


async def _record_scores(
    session: AsyncSession,
    ctx: CampaignContext,
    principal: Principal,
    stage: Stage,
    results: list[Result],
) -> Recorded:
    if not ctx.is_open(stage):
        raise StageNotOpen(f"the {stage.value} stage is not open; results are refused")
    targets = await _score_targets(session, ctx, stage, [r.application_id for r in results])
    _unknown(results, targets)
    not_in = [r.application_id for r in results if targets[r.application_id][0] != "applied"]
    _refuse(not_in, NotInStage, f"application(s) are not taking the {stage.value} stage")
    exists: list[int] = []
    nothing: list[int] = []
    drop = ctx.rules.interview_scoring.drop_extremes
    for r in results:
        _, value, absent = targets[r.application_id]
        has = value is not None or absent
        if r.correction_reason:
            r.kind = "correction"
            if not has:
                nothing.append(r.application_id)
        elif has:
            exists.append(r.application_id)
        if r.examiner_scores is not None:
            r.detail = {
                "examiner_scores": [str(s) for s in r.examiner_scores],
                "drop_extremes": drop,
            }
            r.score = interview_score(r.examiner_scores, drop)
        if r.correction_reason:
            r.detail = {**(r.detail or {}), "previous": "absent" if absent else str(value)}
        if r.absent:
            r.score = None
    _refuse_unmatched(exists, nothing)
    ids = [r.application_id for r in results]
    scores = [r.score for r in results]
    absents = [r.absent for r in results]
    await bulk.insert_arrays(
        session,
        S,
        (
            ("application_id", "bigint", ids),
            ("kind", "text", [r.kind for r in results]),
            ("score", "numeric", scores),
            ("absent", "boolean", absents),
            ("detail", "jsonb", [_json(r.detail) for r in results]),
            ("reason", "text", [r.correction_reason or r.reason for r in results]),
        ),
        (
            ("campaign_id", "bigint", ctx.id),
            ("stage", "text", stage.value),
            ("entered_by", "text", principal.sub),
            ("entered_at", "timestamptz", clock.now()),
        ),
    )
    value_col, absent_col = _SCORE_COLUMNS[stage]
    await bulk.update_columns(
        session, A, ids, ((value_col, "numeric", scores), (absent_col, "boolean", absents))
    )
    corrections = sum(r.kind == "correction" for r in results)
    return Recorded(recorded=len(results) - corrections, corrections=corrections, losses=[])


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _unknown(results: Sequence[Result], targets: Mapping[int, Any]) -> None:
    unknown = [r.application_id for r in results if r.application_id not in targets]
    if unknown:
        raise ValidationProblem(
            f"{len(unknown)} application(s) are not in this campaign: "
            + ", ".join(str(i) for i in unknown[:20]),
            code="unknown_application",
            application_ids=unknown[:100],
        )


async def _record_gates(
    session: AsyncSession,
    ctx: CampaignContext,
    principal: Principal,
    stage: Stage,
    results: list[Result],
    targets: dict[int, Any],
) -> Recorded:
    not_in = [r.application_id for r in results if targets[r.application_id].status != "place"]
    _refuse(not_in, NotInStage, f"application(s) do not hold a place to take {stage.value}")
    closed = [
        r.application_id
        for r in results
        if not ctx.is_open(stage)
        and stage.value not in (targets[r.application_id].owed_gates or [])
    ]
    if closed:
        raise StageNotOpen(
            f"the {stage.value} stage is not open for {len(closed)} application(s): "
            + ", ".join(str(i) for i in closed[:20]),
            application_ids=closed[:100],
        )
    today = clock.today()
    exists: list[int] = []
    nothing: list[int] = []
    for r in results:
        t = targets[r.application_id]
        if stage is Stage.FITNESS and r.measurements is not None:
            _judge(ctx, r, t, today)
        has, recheck = _gate_state(stage, t)
        if recheck and not r.correction_reason:
            r.kind = "recheck"
        elif has and not r.correction_reason:
            exists.append(r.application_id)
        elif r.correction_reason and not has:
            nothing.append(r.application_id)
        elif r.correction_reason:
            r.kind = "correction"
    _refuse_unmatched(exists, nothing)
    now = clock.now()
    await bulk.insert_rows(
        session,
        S,
        SCORE_ENTRY_COLUMNS,
        [
            (
                r.application_id,
                ctx.id,
                stage.value,
                r.kind,
                None,
                None if r.absent else r.passed,
                r.absent,
                r.detail,
                r.correction_reason or r.reason,
                principal.sub,
                now,
            )
            for r in results
        ],
        json_columns=("detail",),
    )
    losses: list[Loss] = []
    corrections = 0
    for r in results:
        passed = bool(r.passed) and not r.absent
        t = targets[r.application_id]
        values: dict[str, Any] = {}
        cause: LossCause | None = None
        if stage is Stage.FITNESS:
            values = {"fitness_passed": passed, "fitness_absent": r.absent}
            cause = None if passed else LossCause.FITNESS
        elif stage is Stage.POLITICAL:
            values = {"political_passed": passed}
            cause = None if passed else LossCause.POLITICAL
        elif r.kind == "recheck" or (r.kind == "correction" and t.medical_recheck is not None):
            values = {"medical_recheck": passed}
            cause = None if passed else LossCause.MEDICAL
        else:
            values = {"medical_first": passed}
            if passed:
                values["medical_recheck_requested"] = False
                values["medical_recheck"] = None
            elif r.absent:
                cause = LossCause.MEDICAL  # no show: no re-examination either
            # a first failure waits: one re-examination may be requested until the
            # campaign next moves on (a stage close, a publicity notice or a hire),
            # which makes the failure final (finalise_medical_failures)
        owed = [g for g in (t.owed_gates or []) if g != stage.value]
        keeps_owing = (
            stage is Stage.MEDICAL and values.get("medical_first") is False and cause is None
        )
        if owed != list(t.owed_gates or []) and not keeps_owing:
            values["owed_gates"] = owed
        await session.execute(
            update(A).where(A.c.id == r.application_id).values(**values, version=A.c.version + 1)
        )
        corrections += r.kind == "correction"
        if cause is not None:
            losses.append(
                await lose(session, ctx, r.application_id, cause, principal.sub, r.reason)
            )
    return Recorded(recorded=len(results) - corrections, corrections=corrections, losses=losses)


def _gate_state(stage: Stage, t: Any) -> tuple[bool, bool]:
    """(a result exists, the next result is the medical re-examination)."""
    if stage is Stage.FITNESS:
        return (t.fitness_passed is not None or bool(t.fitness_absent), False)
    if stage is Stage.POLITICAL:
        return (t.political_passed is not None, False)
    outcome = medical_outcome(t.medical_first, t.medical_recheck, t.medical_recheck_requested)
    if outcome is MedicalOutcome.RECHECK_PENDING:
        return (True, True)
    return (outcome is not MedicalOutcome.PENDING, False)


def _judge(ctx: CampaignContext, r: Result, t: Any, today: Any) -> None:
    """Pass/fail from fitness measurements, by the post's standard (default: police)."""
    standard = ctx.rules.post(t.post).fitness_standard or DEFAULT_STANDARD
    assert r.measurements is not None
    try:
        measured = {FitnessItem(k): parse_duration(v) for k, v in r.measurements.items()}
    except ValueError as exc:
        raise ValidationProblem(
            f"application {r.application_id}: {exc}", code="invalid_measurement"
        ) from exc
    verdict = judge_fitness(Sex(t.sex), age_on(t.birth_date, today), measured, standard)
    r.passed = verdict.passed
    r.detail = {
        "measurements": {k.value: str(v) for k, v in measured.items()},
        "failed_items": [i.value for i in verdict.failed_items],
    }
    if not verdict.passed and not r.reason:
        r.reason = "failed " + ", ".join(i.value for i in verdict.failed_items)
    r.measurements = None


async def request_recheck(
    session: AsyncSession,
    ctx: CampaignContext,
    principal: Principal,
    application_id: int,
    reason: str | None,
) -> None:
    """One medical re-examination, after a first failure, while the window is open."""
    ctx.ensure_active()
    t = (
        await session.execute(
            select(
                A.c.status,
                A.c.medical_first,
                A.c.medical_recheck_requested,
                A.c.owed_gates,
            ).where(A.c.id == application_id)
        )
    ).one()
    if t.status != Status.PLACE.value:
        raise NotInStage("only a holder of a place takes the medical examination")
    if not ctx.is_open(Stage.MEDICAL) and Stage.MEDICAL.value not in (t.owed_gates or []):
        raise StageNotOpen("the medical stage is not open; the re-examination window is over")
    if t.medical_first is not False:
        raise ResultExists(
            "a re-examination follows a failed first examination only",
            code="recheck_not_allowed",
        )
    if t.medical_recheck_requested:
        raise ResultExists(
            "the one re-examination has already been requested", code="recheck_requested"
        )
    await session.execute(
        update(A)
        .where(A.c.id == application_id, A.c.medical_recheck_requested.is_(False))
        .values(medical_recheck_requested=True, version=A.c.version + 1)
    )
    await record(
        session,
        [
            Event(
                application_id,
                ctx.id,
                clock.now(),
                principal.sub,
                "recheck_requested",
                stage=Stage.MEDICAL.value,
                reason=reason or "re-examination requested",
            )
        ],
    )


async def finalise_medical_failures(
    session: AsyncSession, ctx: CampaignContext, actor: str
) -> list[Loss]:
    """First medical failures without a re-examination request become final (the window
    ends with a stage close): each such holder loses the place."""
    rows = (
        await session.execute(
            select(A.c.id).where(
                A.c.campaign_id == ctx.id,
                A.c.status == Status.PLACE.value,
                A.c.medical_first.is_(False),
                A.c.medical_recheck_requested.is_(False),
            )
        )
    ).all()
    losses = []
    for row in rows:
        losses.append(
            await lose(
                session,
                ctx,
                row.id,
                LossCause.MEDICAL,
                actor,
                "failed the medical examination; no re-examination was requested",
            )
        )
    return losses
