"""Alert sinks: where the SIEM delivers new alerts (a webhook, e-mail, ...).

One small base, ``AlertSink``, with one method; built-in kinds are registered here and a
deployment adds its own under the ``workbench.alert_sinks`` entry-point group, then names
it in configuration (``sink_from_config({"kind": "...", ...})``) without editing the library.
"""

from __future__ import annotations

import json
import smtplib
import urllib.request
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from importlib.metadata import entry_points
from typing import Any

from workbench.errors import ConfigError
from workbench.siem.detectors import Alert


def alert_payload(alert: Alert) -> dict[str, Any]:
    return {
        "alert_id": alert.alert_id, "detector": alert.detector, "severity": alert.severity, "user": alert.user_name,
        "first_ts": alert.first_ts.isoformat(), "last_ts": alert.last_ts.isoformat(), "summary": alert.summary,
        "evidence": list(alert.evidence),
    }


class AlertSink:
    """Delivers a batch of alerts; raise on failure so the cycle can report it."""

    kind = "sink"

    def send(self, alerts: Sequence[Alert]) -> None:
        raise NotImplementedError


class WebhookSink(AlertSink):
    """POSTs ``{"alerts": [...]}`` as JSON to ``url`` (chat-ops, ticketing, SOAR)."""

    kind = "webhook"

    def __init__(self, url: str, timeout: float = 10.0, headers: Mapping[str, str] | None = None) -> None:
        self.url, self.timeout, self.headers = url, timeout, dict(headers or {})

    def send(self, alerts: Sequence[Alert]) -> None:
        body = json.dumps({"alerts": [alert_payload(a) for a in alerts]}).encode()
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", **self.headers})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - configured URL
            response.read()


class EmailSink(AlertSink):
    """One e-mail per batch to the administrators, through an SMTP relay."""

    kind = "email"

    def __init__(self, host: str, port: int, sender: str, recipients: Sequence[str], timeout: float = 10.0) -> None:
        self.host, self.port, self.sender, self.recipients, self.timeout = host, port, sender, list(recipients), timeout

    def send(self, alerts: Sequence[Alert]) -> None:
        worst = max(alerts, key=lambda a: ("low", "medium", "high", "critical").index(a.severity))
        message = EmailMessage()
        message["Subject"] = f"[workbench SIEM] {len(alerts)} new alert(s), worst {worst.severity}: {worst.summary}"[:200]
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        lines = [f"{a.severity.upper():8} {a.detector:18} {a.user_name:14} {a.first_ts:%Y-%m-%d %H:%M} {a.summary}\n"
                 f"         evidence: {', '.join(a.evidence[:20])}{' ...' if len(a.evidence) > 20 else ''}"
                 for a in alerts]
        message.set_content("\n".join(lines) + "\n")
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            smtp.send_message(message)


BUILTIN_SINKS: dict[str, type[AlertSink]] = {WebhookSink.kind: WebhookSink, EmailSink.kind: EmailSink}


def sink_from_config(config: Mapping[str, Any]) -> AlertSink:
    """A sink from ``{"kind": ..., **options}``; kinds come from the built-ins or entry points."""
    options = dict(config)
    kind = options.pop("kind", None)
    cls = BUILTIN_SINKS.get(str(kind))
    if cls is None:
        found = [ep for ep in entry_points(group="workbench.alert_sinks") if ep.name == kind]
        if not found:
            raise ConfigError(f"alert sink kind {kind!r} is unknown; known: {', '.join(BUILTIN_SINKS)}")
        cls = found[0].load()
    try:
        return cls(**options)
    except TypeError as exc:
        raise ConfigError(f"alert sink {kind!r}: {exc}") from exc
