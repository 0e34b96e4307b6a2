"""Applications as the API shows them (ID numbers masked unless the role may read them)."""

from __future__ import annotations

from typing import Any

from kernel.auth import Principal
from services.common.resident_id import mask
from services.recruitment.models import Application, Objection, PublicityNotice
from services.recruitment.stages import medical_outcome


def id_number_for(principal: Principal | None, number: str) -> str:
    if principal is not None and principal.may_read_id_numbers:
        return number
    return mask(number)


def objection_view(o: Objection) -> dict[str, Any]:
    return {
        "id": o.id,
        "application_id": o.application_id,
        "text": o.text,
        "objector": o.objector,
        "status": o.status,
        "raised_by": o.raised_by,
        "raised_at": o.raised_at,
        "decided_by": o.decided_by,
        "decided_at": o.decided_at,
        "decision_reason": o.decision_reason,
    }


def medical_text(app: Application) -> str:
    try:
        return medical_outcome(
            app.medical_first, app.medical_recheck, app.medical_recheck_requested
        ).value
    except ValueError:
        return "pending"


def application_view(
    app: Application,
    principal: Principal | None,
    notice: PublicityNotice | None,
    objections: list[Objection],
) -> dict[str, Any]:
    return {
        "id": app.id,
        "campaign_id": app.campaign_id,
        "post": app.post,
        "id_number": id_number_for(principal, app.id_number),
        "name": app.name,
        "sex": app.sex,
        "birth_date": app.birth_date,
        "phone": app.phone,
        "education": app.education,
        "veteran": app.veteran,
        "special_skill": app.special_skill,
        "categories": list(app.categories or []),
        "height_cm": app.height_cm,
        "vision": app.vision,
        "hukou_region": app.hukou_region,
        "declarations": dict(app.declarations or {}),
        "source": app.source,
        "registered_at": app.registered_at,
        "eligibility": app.eligibility,
        "eligibility_reasons": list(app.eligibility_reasons or []),
        "eligibility_override": app.eligibility_override,
        "status": app.status,
        "reason": app.reason,
        "scores": {
            "written": app.written,
            "written_absent": app.written_absent,
            "bonus_written": app.bonus_written,
            "bonus_composite": app.bonus_composite,
            "interview": app.interview,
            "interview_absent": app.interview_absent,
            "fitness": app.fitness_score,
            "fitness_passed": app.fitness_passed,
            "fitness_absent": app.fitness_absent,
            "medical": medical_text(app),
            "medical_recheck_requested": app.medical_recheck_requested,
            "political_passed": app.political_passed,
        },
        "composite": app.composite,
        "rank": app.rank,
        "called": app.called,
        "owed_gates": list(app.owed_gates or []),
        "publicity": (
            {"notice_id": notice.id, "starts": notice.starts, "ends": notice.ends}
            if notice is not None
            else None
        ),
        "hire": (
            {
                "state": app.hire_state,
                "hire_date": app.hire_date,
                "hired_at": app.hired_at,
                "roster_person_id": app.roster_person_id,
                "error": app.hire_error,
            }
            if app.hire_state
            else None
        ),
        "objections": [objection_view(o) for o in objections],
        "version": app.version,
    }


def application_brief(app: Application, principal: Principal) -> dict[str, Any]:
    return {
        "id": app.id,
        "post": app.post,
        "id_number": id_number_for(principal, app.id_number),
        "name": app.name,
        "eligibility": app.eligibility,
        "status": app.status,
        "reason": app.reason,
        "written": app.written,
        "interview": app.interview,
        "composite": app.composite,
        "rank": app.rank,
    }
