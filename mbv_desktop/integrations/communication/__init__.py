"""Notifications to the creator: e-mail through Resend (:mod:`.resend`) and SMS through Twilio
(:mod:`.twilio`), both on the shared http policy. Importing this package is cheap (httpx only)."""

from __future__ import annotations

from .resend import RESEND_POLICY, ResendClient, SentEmail
from .twilio import TWILIO_POLICY, TwilioClient, TwilioMessage, normalize_e164

__all__ = [
    "RESEND_POLICY",
    "TWILIO_POLICY",
    "ResendClient",
    "SentEmail",
    "TwilioClient",
    "TwilioMessage",
    "normalize_e164",
]
