"""The advice's nine headings, and the rule that it may not name a school."""

from __future__ import annotations

import pytest
from eps_chassis.errors import DomainError
from eps_statutory.domain.document import (
    HEADINGS,
    KnownSchool,
    check_complete,
    check_names_no_school,
    missing_headings,
    school_named_in,
)

from tests.support.builders.statutory import document

KNOWN = [KnownSchool("123456", "Greenfield Primary School"), KnownSchool("7654321", "Brook House")]


def test_there_are_nine_headings_in_order() -> None:
    assert [title for _, title in HEADINGS] == [
        "Summary", "Professionals involved", "Basis of assessment", "Background",
        "Child's views", "Parents' views", "Needs", "Outcomes", "Provision",
    ]  # fmt: skip


def test_a_complete_document_passes_and_an_empty_heading_is_named() -> None:
    check_complete(document())
    incomplete = document(child_views=" ", outcomes="")
    assert missing_headings(incomplete) == ["child_views", "outcomes"]
    with pytest.raises(DomainError, match="Child's views, Outcomes") as refused:
        check_complete(incomplete)
    assert refused.value.field == "document.child_views"


@pytest.mark.parametrize(
    "text",
    [
        "Sam attends greenfield primary school.",  # a known name, any case
        "Staff at Brook House report good progress.",  # a known name without a school word
        "Sam's school (123456) has offered small-group work.",  # a known URN
        "Previously at URN: 100234 until 2024.",  # any URN
        "A place at Oakwood Academy would suit.",  # a proper name before a school word
        "St Mary's C of E School has a nurture room.",
        "He moved from Bishop Ellis Catholic Primary last year.",
        "Provision as at Hill Top Infants.",
        "The Riverside Federation offers a resource base.",
    ],
)
def test_a_school_is_named(text: str) -> None:
    assert school_named_in(text, KNOWN) is not None


@pytest.mark.parametrize(
    "text",
    [
        "Sam needs a specialist school place with small classes.",
        "A mainstream primary with a resource base could meet these needs.",
        "Provision typical of a Special School or a Mainstream Primary.",
        "The School should provide daily phonics.",
        "Options include a Further Education College or Sixth Form College.",
        "Assessed with the speech and language therapy service and CAMHS.",
        "Reading age 6 years 3 months; 12 sessions of 30 minutes a week.",
    ],
)
def test_describing_provision_names_no_school(text: str) -> None:
    assert school_named_in(text, KNOWN) is None


def test_the_refusal_names_the_heading_and_what_was_found() -> None:
    with pytest.raises(DomainError, match="Provision names 'Oakwood Academy'") as refused:
        check_names_no_school(document(provision="A place at Oakwood Academy."), KNOWN)
    assert refused.value.field == "document.provision"
    check_names_no_school(document(), KNOWN)
