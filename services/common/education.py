"""Education levels, in order, with the words the API uses."""

from __future__ import annotations

from enum import StrEnum


class Education(StrEnum):
    JUNIOR_HIGH = "junior_high"
    SENIOR_HIGH = "senior_high"  # 高中/中专
    JUNIOR_COLLEGE = "junior_college"  # 大专
    BACHELOR = "bachelor"
    MASTER = "master"
    DOCTORATE = "doctorate"

    @property
    def rank(self) -> int:
        return _ORDER.index(self)

    def at_least(self, other: Education) -> bool:
        return self.rank >= other.rank


_ORDER = list(Education)

ZH = {
    Education.JUNIOR_HIGH: "初中",
    Education.SENIOR_HIGH: "高中/中专",
    Education.JUNIOR_COLLEGE: "大专",
    Education.BACHELOR: "本科",
    Education.MASTER: "硕士研究生",
    Education.DOCTORATE: "博士研究生",
}
