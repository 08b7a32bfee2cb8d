"""The published sources rules cite (sources.toml), and a rule's source in words a patient reads."""

import re
from functools import cache
from typing import Any

from ketaclinic.knowledge.tables import load_table

CLINIC_DEFAULT = "the clinic's own policy"


@cache
def sources() -> dict[str, dict[str, Any]]:
    """Every source by key: {name, citation}."""
    return dict(load_table("sources"))


@cache
def _key_pattern() -> re.Pattern[str]:
    keys = sorted(sources(), key=len, reverse=True)
    return re.compile(r"(?<![A-Za-z0-9-])(" + "|".join(re.escape(k) for k in keys) + r")(?![A-Za-z0-9])")


def named(source: str) -> str:
    """A rule's source for a public page: each cited key as its name (in order, once each), and
    a clinic default or a clinic's own value (an override of the rule set) said as such; the
    project's own file references are left out."""
    names: list[str] = []
    for key in _key_pattern().findall(source):
        name = sources()[key]["name"]
        if name not in names:
            names.append(name)
    if "clinic default" in source.lower() or "clinic override" in source.lower():
        names.append(CLINIC_DEFAULT)
    return "; ".join(names) or "the clinic's protocol"
