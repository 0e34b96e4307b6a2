"""Shaping rows into responses; ID numbers are masked unless the role may read them."""

from __future__ import annotations

from datetime import date
from typing import Any

from kernel.auth import Principal
from services.common.education import Education
from services.common.resident_id import Sex, age_on, mask
from services.roster.levels import Grade, dismissal_grounds
from services.roster.models import (
    Assessment,
    Personnel,
    QuotaReservation,
    QuotaRuleRow,
    Region,
    RegionDemographics,
)
from services.roster.regions_service import QuotaLine, RuleBook
from services.roster.schemas import (
    AssessmentOut,
    ContractOut,
    Demographics,
    LastAssessment,
    LevelChangeOut,
    PersonnelFileOut,
    PersonnelOut,
    PoliticalStatus,
    PostCategory,
    PunishmentOut,
    QuotaComponentOut,
    QuotaOut,
    QuotaRuleOut,
    RegionOut,
    ReservationOut,
    ReservationStatus,
    RewardOut,
    StatusChangeOut,
    TrainingOut,
)
from services.roster.statuses import DepartureReason, Status


def id_number_for(principal: Principal, number: str) -> str:
    return number if principal.may_read_id_numbers else mask(number)


def personnel_out(person: Any, principal: Principal, today: date) -> PersonnelOut:
    """A file's summary, from a `Personnel` or a row of its columns."""
    last = (
        LastAssessment(year=person.last_assessment_year, grade=Grade(person.last_assessment_grade))
        if person.last_assessment_year is not None and person.last_assessment_grade is not None
        else None
    )
    return PersonnelOut(
        id=person.id,
        id_number=id_number_for(principal, person.id_number),
        name=person.name,
        sex=Sex(person.sex),
        birth_date=person.birth_date,
        age=age_on(person.birth_date, today),
        region=person.region,
        unit=person.unit,
        post_category=PostCategory(person.post_category),
        post=person.post,
        education=Education(person.education),
        veteran=person.veteran,
        political_status=(
            PoliticalStatus(person.political_status) if person.political_status else None
        ),
        phone=person.phone,
        hire_date=person.hire_date,
        probation_months=person.probation_months,
        probation_end=person.probation_end,
        level=person.level,
        step=person.step,
        level_since=person.level_since,
        status=Status(person.status),
        status_since=person.status_since,
        left_date=person.left_date,
        departure_reason=(
            DepartureReason(person.departure_reason) if person.departure_reason else None
        ),
        last_assessment=last,
        external_reference=person.external_reference,
        reservation_id=person.reservation_id,
        created_at=person.created_at,
        created_by=person.created_by,
        updated_at=person.updated_at,
        version=person.version,
    )


def assessment_out(row: Assessment, grounds: tuple[int, int] | None = None) -> AssessmentOut:
    out = AssessmentOut.model_validate(row)
    out.dismissal_grounds = list(grounds) if grounds else None
    return out


def personnel_file_out(person: Personnel, principal: Principal, today: date) -> PersonnelFileOut:
    """The person with every life event (the relationships must be loaded)."""
    base = personnel_out(person, principal, today)
    grades = {a.year: Grade(a.grade) for a in person.assessments}
    grounds = dismissal_grounds(grades)
    return PersonnelFileOut(
        **base.model_dump(),
        contracts=[ContractOut.model_validate(c) for c in person.contracts],
        assessments=[
            assessment_out(a, grounds if grounds and a.year in grounds else None)
            for a in person.assessments
        ],
        level_changes=[LevelChangeOut.model_validate(c) for c in person.level_changes],
        status_changes=[StatusChangeOut.model_validate(c) for c in person.status_changes],
        rewards=[RewardOut.model_validate(r) for r in person.rewards],
        punishments=[PunishmentOut.model_validate(p) for p in person.punishments],
        trainings=[TrainingOut.model_validate(t) for t in person.trainings],
    )


def region_out(region: Region, demographics: list[RegionDemographics]) -> RegionOut:
    latest = demographics[0] if demographics else None
    return RegionOut(
        code=region.code,
        name=region.name,
        parent=region.parent,
        level=region.level,
        population=latest.population if latest else None,
        police_establishment=latest.police_establishment if latest else None,
        year=latest.year if latest else None,
        demographics=[Demographics.model_validate(d) for d in demographics],
        version=region.version,
    )


def rule_out(row: QuotaRuleRow) -> QuotaRuleOut:
    return QuotaRuleOut.model_validate(row)


def quota_out(
    region: Region, line: QuotaLine, book: RuleBook, seat: str, derived: bool
) -> QuotaOut:
    figures = line.figures
    components = []
    for component in figures.components:
        assert isinstance(component.rule_id, int)
        row = book.rows[component.rule_id]
        components.append(
            QuotaComponentOut(
                rule_id=row.id,
                region_prefix=row.region_prefix,
                basis=component.basis,
                value=component.value,
                post_categories=sorted(component.post_categories),
                effective_from=row.effective_from,
                amount=component.amount,
                missing_input=component.missing_input,
            )
        )
    return QuotaOut(
        region=region.code,
        name=region.name,
        on=line.on,
        year=line.year,
        quota=figures.quota,
        headcount=figures.headcount,
        reserved=figures.reserved,
        available=figures.available,
        over_quota=figures.over_quota,
        population=figures.population,
        police_establishment=figures.police_establishment,
        per_10k_population=figures.per_10k_population,
        per_police=figures.per_police,
        incomplete=figures.incomplete,
        figures_derived=derived,
        seat_region=seat,
        components=components,
    )


def reservation_out(reservation: QuotaReservation) -> ReservationOut:
    return ReservationOut(
        id=reservation.id,
        region=reservation.region,
        seats=reservation.seats,
        converted=reservation.converted,
        released=reservation.released,
        held=reservation.held,
        reference=reservation.reference,
        status=ReservationStatus(reservation.status),
        created_at=reservation.created_at,
        created_by=reservation.created_by,
        closed_at=reservation.closed_at,
    )


def jsonable_changes(changes: dict[str, tuple[Any, Any]]) -> dict[str, dict[str, Any]]:
    def plain(value: Any) -> Any:
        if isinstance(value, date):
            return value.isoformat()
        return value

    return {k: {"from": plain(a), "to": plain(b)} for k, (a, b) in changes.items()}
