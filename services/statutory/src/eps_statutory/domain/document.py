"""The advice document: its nine headings, and the rule that it may not name a school.

Advice describes the provision a child needs, never the school that should provide it (the
choice of placement is the parents' and the LA's). A document names a school when any heading
contains:

1. the name of a school the service knows for this LA (the child's school as the SEN team sent
   it, and every school seen in earlier requests), matched whole-word and case-insensitively;
2. the URN of a known school, or the word "URN" followed by a 6-7 digit number;
3. a proper name followed by a school-type word: one or more capitalised words directly before a
   capitalised ``School``, ``Academy``, ``College``, ``Primary``, ``Infants``, ``Juniors``,
   ``Nursery``, ``Federation`` or ``Free School`` (``Greenfield Primary``, ``St Mary's C of E
   School``, ``Oakwood Academy``). Capitalised generic words (``Special School``, ``Mainstream
   Primary``, ``Further Education College``, a sentence starting ``The School``) are not names;
   lower-case descriptions (``a specialist school``, ``a mainstream primary``) never match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from eps_chassis.errors import DomainError
from eps_contracts.statutory import AdviceDocument

HEADINGS: tuple[tuple[str, str], ...] = (
    ("summary", "Summary"),
    ("professionals_involved", "Professionals involved"),
    ("basis_of_assessment", "Basis of assessment"),
    ("background", "Background"),
    ("child_views", "Child's views"),
    ("parent_views", "Parents' views"),
    ("needs", "Needs"),
    ("outcomes", "Outcomes"),
    ("provision", "Provision"),
)

_INSTITUTION = r"(?:School|Academy|College|Primary|Infants?|Juniors?|Nursery|Federation)"
_NAME_WORD = r"(?:[A-Z][\w'\u2019.-]*|of|de|la|and|&)"
_PROPER_SCHOOL = re.compile(
    rf"\b((?:{_NAME_WORD}\s+){{0,5}}[A-Z][\w'\u2019.-]*)\s+{_INSTITUTION}\b"
)
_URN = re.compile(r"\bURN\W{0,3}\d{6,7}\b", re.IGNORECASE)
GENERIC_WORDS = frozenset(
    {
        "a", "an", "the", "this", "that", "any", "her", "his", "their", "current", "local",
        "special", "specialist", "mainstream", "primary", "secondary", "infant", "infants",
        "junior", "juniors", "nursery", "further", "higher", "education", "independent",
        "residential", "day", "maintained", "free", "alternative", "provision", "resource",
        "base", "unit", "sixth", "form", "high", "grammar", "community", "village", "new",
        "of", "and", "&", "de", "la", "in", "at", "to", "for", "from", "with", "or", "school",
        "schools", "academy", "college", "setting", "early", "years", "pupil", "referral",
        "hospital", "post-16", "16", "all-through", "middle", "upper", "lower", "first",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class KnownSchool:
    urn: str
    name: str


def missing_headings(document: AdviceDocument) -> list[str]:
    return [field for field, _ in HEADINGS if not getattr(document, field).strip()]


def check_complete(document: AdviceDocument) -> None:
    missing = missing_headings(document)
    if missing:
        titles = dict(HEADINGS)
        raise DomainError(
            "the advice needs every heading; empty: " + ", ".join(titles[m] for m in missing),
            field=f"document.{missing[0]}",
        )


def school_named_in(text: str, schools: Iterable[KnownSchool]) -> str | None:
    """What in ``text`` names a school (see the module rule), or None."""
    for school in schools:
        name = school.name.strip()
        if name and re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.IGNORECASE):
            return school.name
        if re.search(rf"(?<!\d){re.escape(school.urn)}(?!\d)", text):
            return f"URN {school.urn}"
    urn = _URN.search(text)
    if urn:
        return urn.group(0)
    for match in _PROPER_SCHOOL.finditer(text):
        words = re.split(r"\s+", match.group(1))
        if any(w.lower().strip(".'\u2019") not in GENERIC_WORDS for w in words):
            return match.group(0)
    return None


def check_names_no_school(document: AdviceDocument, schools: Iterable[KnownSchool]) -> None:
    known = tuple(schools)
    for field, title in HEADINGS:
        found = school_named_in(getattr(document, field), known)
        if found is not None:
            raise DomainError(
                f"advice may describe provision but not name a school: {title} names {found!r}",
                field=f"document.{field}",
            )
