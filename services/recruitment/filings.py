"""The generated documents filed with the higher bureau (先报备后备案): the pre-recruitment
report of an approved plan and the post-recruitment filing of a campaign's hires, as JSON
or as an XLSX workbook."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import Request, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.auth import Principal
from kernel.tabular import ReportLanguage
from services.common.resident_id import mask
from services.recruitment import clock
from services.recruitment.campaign_state import CampaignContext
from services.recruitment.campaigns_service import backfill_rounds, post_counts
from services.recruitment.errors import ValidationProblem
from services.recruitment.models import Application, Plan, table_of
from services.recruitment.stages import STAGE_ORDER, Stage, StageState
from services.recruitment.tabular import XLSX, write_xlsx

A = table_of(Application)


def filing_format(request: Request, fmt: str | None) -> str:
    """json, csv or xlsx: `?format=` first, then the Accept header."""
    if fmt is not None:
        if fmt not in ("json", "csv", "xlsx"):
            raise ValidationProblem("format is json, csv or xlsx", code="invalid_format")
        return fmt
    accept = request.headers.get("accept", "")
    if XLSX in accept:
        return "xlsx"
    if "text/csv" in accept:
        return "csv"
    return "json"


def _label(text: Any, lang: ReportLanguage | None) -> Any:
    """Labels are written "中文 english": `?lang=zh` keeps the Chinese, else the key."""
    if not isinstance(text, str) or " " not in text or not text[:1] > "\u2e7f":
        return text
    zh, _, en = text.partition(" ")
    return zh if lang is ReportLanguage.ZH else en


def _localised(
    rows: list[tuple[Any, ...]], lang: ReportLanguage | None, *, first_column: bool
) -> list[tuple[Any, ...]]:
    out = [tuple(_label(cell, lang) for cell in rows[0])]
    for row in rows[1:]:
        if first_column or (row and row[0] == TOTAL):
            out.append((_label(row[0], lang), *(_label(c, lang) for c in row[1:])))
        else:
            out.append(
                tuple(_label(c, lang) if isinstance(c, str) and c in _VALUES else c for c in row)
            )
    return out


TOTAL = "合计 total"
_VALUES = frozenset({"是 yes", "否 no"})


def filing_response(
    sheets: list[tuple[str, list[tuple[Any, ...]]]],
    main_sheet: int,
    fmt: str,
    lang: ReportLanguage | None,
    filename: str,
) -> Response:
    """XLSX carries every sheet; CSV the main table. The column order is fixed."""
    localised = [
        (_label(title, lang), _localised(rows, lang, first_column=index == 0))
        for index, (title, rows) in enumerate(sheets)
    ]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerows(localised[main_sheet][1])
        return Response(
            ("\ufeff" + buffer.getvalue()).encode(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
        )
    return Response(
        write_xlsx(localised),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{filename}.xlsx"'},
    )


def plan_filing(plan: Plan, campaign_id: int | None) -> dict[str, Any]:
    return {
        "document": "pre_recruitment_report",
        "plan_id": plan.id,
        "region": plan.region,
        "year": plan.year,
        "title": plan.title,
        "status": plan.status,
        "positions": [
            {
                "post_category": p.post_category,
                "post": p.post,
                "headcount": p.headcount,
                "unit": p.unit,
            }
            for p in plan.positions
        ],
        "headcount": sum(p.headcount for p in plan.positions),
        "reservation": {
            "id": plan.reservation_id,
            "reference": plan.reservation_reference,
            "seats": plan.reservation_seats,
        },
        "drawn_up_by": plan.created_by,
        "submitted_by": plan.submitted_by,
        "submitted_at": plan.submitted_at,
        "approved_by": plan.decided_by,
        "approved_at": plan.decided_at,
        "campaign_id": campaign_id,
        "generated_at": clock.now(),
    }


def plan_filing_sheets(doc: dict[str, Any]) -> list[tuple[str, list[tuple[Any, ...]]]]:
    summary = [
        ("项目 item", "内容 value"),
        ("文书 document", "招聘计划报备 pre-recruitment report"),
        ("计划 plan_id", doc["plan_id"]),
        ("地区 region", doc["region"]),
        ("年度 year", doc["year"]),
        ("名称 title", doc["title"] or ""),
        ("招聘人数 headcount", doc["headcount"]),
        ("预留编号 reservation_id", doc["reservation"]["id"]),
        ("预留引用 reservation_reference", doc["reservation"]["reference"]),
        ("拟定 drawn_up_by", doc["drawn_up_by"]),
        ("提交 submitted_by", doc["submitted_by"] or ""),
        ("提交时间 submitted_at", doc["submitted_at"]),
        ("批准 approved_by", doc["approved_by"] or ""),
        ("批准时间 approved_at", doc["approved_at"]),
        ("生成时间 generated_at", doc["generated_at"]),
    ]
    positions = [("类别 post_category", "岗位 post", "人数 headcount", "单位 unit")] + [
        (p["post_category"], p["post"], p["headcount"], p["unit"] or "") for p in doc["positions"]
    ]
    positions.append((TOTAL, "", doc["headcount"], ""))
    return [("报备 report", summary), ("岗位 positions", positions)]


async def campaign_filing(
    session: AsyncSession, ctx: CampaignContext, plan: Plan, principal: Principal
) -> dict[str, Any]:
    counts = await post_counts(session, ctx.id)
    rounds = await backfill_rounds(session, ctx.id)
    interviewed: dict[str, int] = dict(
        (
            await session.execute(
                select(A.c.post, func.count())
                .where(
                    A.c.campaign_id == ctx.id,
                    (A.c.interview.is_not(None)) | (A.c.interview_absent.is_(True)),
                )
                .group_by(A.c.post)
            )
        ).all()
    )
    hires = (
        await session.execute(
            select(
                A.c.id,
                A.c.name,
                A.c.id_number,
                A.c.sex,
                A.c.birth_date,
                A.c.education,
                A.c.veteran,
                A.c.post,
                A.c.written,
                A.c.interview,
                A.c.composite,
                A.c.rank,
                A.c.called,
                A.c.hire_date,
                A.c.hire_state,
                A.c.roster_person_id,
            )
            .where(A.c.campaign_id == ctx.id, A.c.status == "hired")
            .order_by(A.c.post, A.c.rank, A.c.id)
        )
    ).all()
    waiting = (
        await session.execute(
            select(func.count()).where(A.c.campaign_id == ctx.id, A.c.status == "place")
        )
    ).scalar_one()
    show_ids = principal.may_read_id_numbers
    publicity_closed = ctx.states[Stage.PUBLICITY] is StageState.CLOSED
    return {
        "document": "post_recruitment_filing",
        "campaign_id": ctx.id,
        "plan_id": plan.id,
        "region": ctx.campaign.region,
        "year": plan.year,
        "title": ctx.campaign.title,
        "registration_opens": ctx.campaign.registration_opens,
        "registration_closes": ctx.campaign.registration_closes,
        "stages": [{"stage": s.value, "state": ctx.states[s].value} for s in STAGE_ORDER],
        "posts": [
            {
                "post": p.post,
                "post_category": p.post_category,
                "places": p.places,
                "applicants": counts.get(p.post, {}).get("applicants", 0),
                "eligible": counts.get(p.post, {}).get("eligible", 0),
                "interviewed": int(interviewed.get(p.post, 0)),
                "hired": counts.get(p.post, {}).get("hired", 0),
                "backfill_rounds": rounds.get(p.post, 0),
            }
            for p in ctx.posts.values()
        ],
        "hires": [
            {
                "application_id": h.id,
                "name": h.name,
                "id_number": h.id_number if show_ids else mask(h.id_number),
                "sex": h.sex,
                "birth_date": h.birth_date,
                "education": h.education,
                "veteran": h.veteran,
                "post": h.post,
                "written": h.written,
                "interview": h.interview,
                "composite": h.composite,
                "rank": h.rank,
                "backfilled": bool(h.called)
                and h.rank is not None
                and h.rank > ctx.posts[h.post].places,
                "hire_date": h.hire_date,
                "delivery": h.hire_state,
                "roster_person_id": h.roster_person_id,
            }
            for h in hires
        ],
        "hired": len(hires),
        "complete": publicity_closed
        and waiting == 0
        and all(h.hire_state == "delivered" for h in hires),
        "generated_at": clock.now(),
    }


def campaign_filing_sheets(doc: dict[str, Any]) -> list[tuple[str, list[tuple[Any, ...]]]]:
    summary = [
        ("项目 item", "内容 value"),
        ("文书 document", "招聘结果备案 post-recruitment filing"),
        ("招聘 campaign_id", doc["campaign_id"]),
        ("计划 plan_id", doc["plan_id"]),
        ("地区 region", doc["region"]),
        ("年度 year", doc["year"]),
        ("名称 title", doc["title"]),
        ("录用人数 hired", doc["hired"]),
        ("完成 complete", "是 yes" if doc["complete"] else "否 no"),
        ("生成时间 generated_at", doc["generated_at"]),
    ]
    posts = [
        (
            "岗位 post",
            "类别 post_category",
            "计划 places",
            "报名 applicants",
            "资格合格 eligible",
            "面试 interviewed",
            "录用 hired",
            "递补轮次 backfill_rounds",
        )
    ] + [
        (
            p["post"],
            p["post_category"],
            p["places"],
            p["applicants"],
            p["eligible"],
            p["interviewed"],
            p["hired"],
            p["backfill_rounds"],
        )
        for p in doc["posts"]
    ]
    hires = [
        (
            "报名号 application_id",
            "姓名 name",
            "身份证号 id_number",
            "性别 sex",
            "出生日期 birth_date",
            "学历 education",
            "退役军人 veteran",
            "岗位 post",
            "笔试 written",
            "面试 interview",
            "综合 composite",
            "名次 rank",
            "递补 backfilled",
            "入职日期 hire_date",
            "花名册编号 roster_person_id",
        )
    ] + [
        (
            h["application_id"],
            h["name"],
            h["id_number"],
            h["sex"],
            h["birth_date"],
            h["education"],
            "是 yes" if h["veteran"] else "否 no",
            h["post"],
            h["written"],
            h["interview"],
            h["composite"],
            h["rank"],
            "是 yes" if h["backfilled"] else "否 no",
            h["hire_date"],
            h["roster_person_id"] or "",
        )
        for h in doc["hires"]
    ]
    keys = ("places", "applicants", "eligible", "interviewed", "hired", "backfill_rounds")
    posts.append((TOTAL, "", *(sum(p[k] for p in doc["posts"]) for k in keys)))
    return [("备案 filing", summary), ("岗位 posts", posts), ("录用 hires", hires)]
