"""Settings of the notifications service: the chassis's, the far ends (GOV.UK Notify and an
SMTP relay) and how often it sends, retries and asks for delivery status.

The defaults point at the local stand-ins that `make run` starts (``deploy/local/standins``):
in production ``EPS_NOTIFY_API_KEY``, ``EPS_NOTIFY_BASE_URL``, the template ids and the SMTP
relay are the LA's own."""

from __future__ import annotations

from eps_chassis.settings import ServiceSettings
from pydantic import Field

# The stand-in's key: GOV.UK Notify's format, <key name>-<service id>-<secret>.
STANDIN_NOTIFY_API_KEY = (
    "local_standin-7b3e8a52-6f1d-4c8e-9a3b-2d5f0e1c4b7a-0d9c8b7a-6e5f-4a3b-9c2d-1e0f9a8b7c6d"
)


class NotificationsSettings(ServiceSettings):
    notify_api_key: str = Field(STANDIN_NOTIFY_API_KEY, repr=False)
    """GOV.UK Notify API key (``EPS_NOTIFY_API_KEY``)."""
    notify_base_url: str = "http://127.0.0.1:8025"
    """GOV.UK Notify's API (``EPS_NOTIFY_BASE_URL``): https://api.notifications.service.gov.uk
    in production; the local stand-in by default."""
    notify_sms_template_id: str = "2a0c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b"
    """The Notify SMS template: its body is ``((message))`` (``EPS_NOTIFY_SMS_TEMPLATE_ID``)."""
    notify_email_template_id: str = "3b1d4e5f-6071-4829-9bac-1d2e3f4a5b6c"
    """The Notify email template: subject ``((subject))``, body ``((message))``
    (``EPS_NOTIFY_EMAIL_TEMPLATE_ID``)."""
    notify_timeout_s: float = 10.0
    """How long one call to Notify may take before it counts as a temporary failure."""
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8026
    smtp_sender: str = "eps-paging@localhost"
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = Field(None, repr=False)
    smtp_timeout_s: float = 10.0
    notifications_send_interval_s: float = 1.0
    """How often messages due are sent (``EPS_NOTIFICATIONS_SEND_INTERVAL_S``): a page leaves
    at most this long after the event."""
    notifications_status_interval_s: float = 15.0
    """How often Notify is asked what became of messages sent and not yet delivered."""
    notifications_retry_first_s: float = 30.0
    """The wait before the first retry of a temporary failure; it doubles each time."""
    notifications_retry_max_s: float = 900.0
    """The longest wait between two attempts."""
    notifications_max_attempts: int = Field(6, ge=1)
    """Attempts before a message that keeps failing temporarily fails for good."""
    notifications_in_doubt_after_s: float = 120.0
    """A send claimed this long ago with no outcome recorded (the process stopped mid-send) is
    in doubt: Notify is asked by reference whether it arrived before it is sent again."""
