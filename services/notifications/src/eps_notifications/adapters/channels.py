"""The far ends: GOV.UK Notify (SMS and email, through its official Python client) and an SMTP
relay (email), each answering in the domain's terms (accepted, failed for now, failed for good).

Notify's client is synchronous (requests): each call runs in a worker thread with a client of
its own (the client is not thread-safe), so the event loop never waits on the network. Its
``reference`` is the notification id, so a send whose outcome was lost can be found again.
"""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from typing import Any

import aiosmtplib
from eps_contracts.notifications import Channel, Provider
from notifications_python_client.errors import APIError
from notifications_python_client.notifications import NotificationsAPIClient

from eps_notifications.domain.model import (
    Accepted,
    Delivered,
    DeliveryStatus,
    OnItsWay,
    PermanentFailure,
    SendOrder,
    SendOutcome,
    TemporaryFailure,
)
from eps_notifications.settings import NotificationsSettings

# Notify's one answer not worth trying again: 400, the request itself is wrong (a number that
# cannot be a mobile, an address that cannot be one). Everything else is tried again with
# backoff until the attempts run out: its rate limit (429) and its own faults (5xx; a
# connection error or a timeout reaches us as 503), and a key or template refused (403, 404),
# which an operator puts right: a misconfiguration does not walk the chain at once.
PERMANENT_STATUSES = frozenset({400})
# What Notify's status look-up says (https://docs.notifications.service.gov.uk/python.html)
DELIVERED = frozenset({"delivered", "sent"})  # "sent": an international SMS, no receipt
PERMANENT = frozenset({"permanent-failure", "validation-failed", "virus-scan-failed"})
TEMPORARY = frozenset({"temporary-failure", "technical-failure"})


def _notify_error(error: APIError) -> TemporaryFailure | PermanentFailure:
    reason = f"GOV.UK Notify {error.status_code}: {error.message}"[:500]
    if error.status_code in PERMANENT_STATUSES:
        return PermanentFailure(reason)
    return TemporaryFailure(reason)


class Senders:
    """Sends an attempt on its channel and asks Notify what became of one."""

    def __init__(self, settings: NotificationsSettings) -> None:
        self.settings = settings

    def _notify(self) -> NotificationsAPIClient:
        s = self.settings
        return NotificationsAPIClient(s.notify_api_key, s.notify_base_url, s.notify_timeout_s)

    async def send(self, order: SendOrder) -> SendOutcome:
        if order.provider == Provider.SMTP:
            return await self._smtp(order)
        return await asyncio.to_thread(self._send_by_notify, order)

    async def delivery_status(self, provider_id: str) -> DeliveryStatus:
        return await asyncio.to_thread(self._status_from_notify, provider_id)

    # --- GOV.UK Notify (in a worker thread) -------------------------------------------------

    def _send_by_notify(self, order: SendOrder) -> SendOutcome:
        client, s = self._notify(), self.settings
        try:
            if order.in_doubt:  # an earlier attempt may have gone: did it?
                found = client.get_all_notifications(reference=order.notification_id)
                sent = found.get("notifications") or []
                if sent:
                    return Accepted(sent[0]["id"], sent[0].get("template", {}).get("id"))
            personalisation = {"message": order.message.text}
            response: dict[str, Any]
            if order.channel == Channel.SMS:
                template = s.notify_sms_template_id
                response = client.send_sms_notification(
                    order.destination, template, personalisation, order.notification_id
                )
            else:
                template = s.notify_email_template_id
                response = client.send_email_notification(
                    order.destination,
                    template,
                    {**personalisation, "subject": order.message.subject},
                    order.notification_id,
                )
        except APIError as error:
            return _notify_error(error)
        return Accepted(str(response["id"]), template)

    def _status_from_notify(self, provider_id: str) -> DeliveryStatus:
        try:
            status = str(self._notify().get_notification_by_id(provider_id)["status"])
        except APIError:
            return OnItsWay()  # asked again next round
        if status in DELIVERED:
            return Delivered()
        if status in PERMANENT:
            return PermanentFailure(f"GOV.UK Notify: {status}")
        if status in TEMPORARY:
            return TemporaryFailure(f"GOV.UK Notify: {status}")
        return OnItsWay()  # created, sending, pending

    # --- SMTP ----------------------------------------------------------------------------------

    async def _smtp(self, order: SendOrder) -> SendOutcome:
        s = self.settings
        email = EmailMessage()
        email["From"], email["To"] = s.smtp_sender, order.destination
        email["Subject"] = order.message.subject
        email["Message-ID"] = f"<{order.notification_id}@eps-notifications>"
        email.set_content(order.message.text)
        try:
            await aiosmtplib.send(
                email,
                hostname=s.smtp_host,
                port=s.smtp_port,
                start_tls=s.smtp_starttls,
                username=s.smtp_username,
                password=s.smtp_password,
                timeout=s.smtp_timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            return PermanentFailure(f"SMTP: recipient refused: {error.recipients}"[:500])
        except aiosmtplib.SMTPResponseException as error:
            reason = f"SMTP {error.code}: {error.message}"[:500]
            # 4xx: the relay asks us to come back later; 5xx: it refuses the message for good
            return TemporaryFailure(reason) if 400 <= error.code < 500 else PermanentFailure(reason)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            return TemporaryFailure(f"SMTP relay unreachable: {error!r}"[:500])
        return Accepted(None)
