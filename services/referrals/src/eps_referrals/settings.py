"""Settings of the referrals service: the chassis's. Referrals has no jobs of its own, so no
interval or limit to add; its class is where one would go."""

from __future__ import annotations

from eps_chassis.settings import ServiceSettings


class ReferralsSettings(ServiceSettings):
    pass
