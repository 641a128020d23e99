"""The clocks of data protection, pure: when a subject access request is due, and when a
child's records reach the end of their retention.

A subject access request is answered within one calendar month of receipt (UK GDPR Article
12(3)), as the ICO counts it: from the day it is received to the corresponding day of the next
month, or the last day of that month when it has no such day (received 31 January: due 28 or
29 February). A complex request may be extended by up to two further months, counted from the
original due date's month the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from dateutil.relativedelta import relativedelta

MAX_EXTENSION_MONTHS = 2


def subject_access_due(received_on: date, extension_months: int = 0) -> date:
    """The day the answer is due: one calendar month after receipt, plus any extension."""
    if not 0 <= extension_months <= MAX_EXTENSION_MONTHS:
        raise ValueError(f"an extension is 0 to {MAX_EXTENSION_MONTHS} further months")
    return received_on + relativedelta(months=1 + extension_months)


@dataclass(frozen=True, slots=True)
class RetentionSchedule:
    """An LA's retention schedule for a child's records. (The audit log and the dead letters
    have rules of their own, the deployment's: ``audit_log_retention`` in each service's schema,
    chassis migration 0007, and the keys service's ``EPS_KEYS_DEAD_LETTER_RETENTION_DAYS``.)"""

    casework_years_after_birth: int = 25
    """SEN and casework records: until the child's date of birth plus this many years."""
    subject_access_reminder_days: int = 7
    """A reminder when an unanswered subject access request is due within this many days."""


def retention_ends(date_of_birth: date, schedule: RetentionSchedule) -> date:
    """The first day (Europe/London) the child's casework records are no longer kept: their
    birthday in the year the period ends (29 February: 28 February in a common year)."""
    return date_of_birth + relativedelta(years=schedule.casework_years_after_birth)
