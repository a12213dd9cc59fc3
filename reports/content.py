"""What a mail says: the context each kind of mail is rendered from, its subject, text and HTML.

Nothing here queues or sends (reports/outbox.py and reports/delivery.py do); the digest's own
figures are in reports/digest.py.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse

from scoring.models import Alert, TutorScore
from sessions.models import Reschedule, Session, Tutor

ALERT_MAIL_ROWS = 50  # a summary after a full recompute lists this many, then "and N more"


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


def absolute_url(path: str) -> str:
    """A link that works from an inbox: SITE_URL + path."""
    return f"{settings.SITE_URL}{path}"


def tutor_url(tutor_id: object) -> str:
    return absolute_url(reverse("scoring:tutor_detail", args=[tutor_id]))


def _mail_context(kind: str, context: dict) -> dict:
    return {"site_url": settings.SITE_URL, "kind": kind, **context}


def render_subject(kind: str, context: dict) -> str:
    """Only the subject line, one line whatever the template's whitespace (the log shows it
    before the mail is built and sent)."""
    subject = render_to_string(f"reports/email/{kind}.subject.txt", _mail_context(kind, context))
    return " ".join(subject.split())[:255]


def render_mail(kind: str, context: dict) -> RenderedMail:
    """Subject, text and HTML parts of one kind of mail, from templates/reports/email/<kind>.*."""
    context = _mail_context(kind, context)
    return RenderedMail(
        subject=render_subject(kind, context),
        text=render_to_string(f"reports/email/{kind}.txt", context).strip() + "\n",
        html=render_to_string(f"reports/email/{kind}.html", context),
    )


def sentences(items: Iterable[Any] | None) -> list[str]:
    """Reasons/recommendations as plain strings, whether stored as strings or {"text": ...} dicts."""
    result = []
    for item in items or []:
        if isinstance(item, dict):
            item = item.get("text") or item.get("message") or item.get("reason") or ""
        if str(item).strip():
            result.append(str(item).strip())
    return result


def score_context(score: TutorScore | None) -> dict | None:
    """The tutor's current figures as the mail templates show them (None when not scored yet)."""
    if score is None:
        return None
    return {
        "score": score,
        "windows": [
            {
                "label": f"{days} days",
                "sessions": getattr(score, f"total_sessions_{days}d"),
                "tutor_reschedules": getattr(score, f"tutor_reschedules_{days}d"),
                "rate": getattr(score, f"reschedule_rate_{days}d"),
            }
            for days in (7, 30, 90)
        ],
        "reasons": sentences(score.reasons),
        "recommendations": sentences(score.recommendations),
    }


def score_of(tutor: Tutor) -> TutorScore | None:
    try:
        return tutor.score
    except TutorScore.DoesNotExist:
        return None


def session_report_context(session: Session) -> dict:
    """Everything the per-session report shows: the session, its tutor's figures and the link."""
    tutor = session.tutor
    reschedule = None
    if session.status == Session.Status.RESCHEDULED:
        try:
            reschedule = session.reschedule
        except Reschedule.DoesNotExist:
            reschedule = None
    return {
        "session": session,
        "reschedule": reschedule,
        "tutor": tutor,
        "scored": score_context(score_of(tutor)),
        "tutor_url": tutor_url(tutor.pk),
    }


def alert_context(alerts: Iterable[Alert]) -> dict:
    """One alert mail about every alert of a batch: the first in full (the tutor's figures), the
    others one line each, at most ALERT_MAIL_ROWS of them."""
    alerts = sorted(alerts, key=lambda alert: (alert.opened_at, alert.tutor.name, alert.kind))
    first = alerts[0]
    return {
        "alert": first,
        "tutor": first.tutor,
        "scored": score_context(score_of(first.tutor)),
        "tutor_url": tutor_url(first.tutor_id),
        "alert_url": absolute_url(first.get_absolute_url()),
        "alerts": [
            {"alert": alert, "tutor": alert.tutor, "url": absolute_url(alert.get_absolute_url())}
            for alert in alerts[:ALERT_MAIL_ROWS]
        ],
        "alerts_count": len(alerts),
        "alerts_more": max(len(alerts) - ALERT_MAIL_ROWS, 0),
        "tutors_count": len({alert.tutor_id for alert in alerts}),
        "alerts_url": absolute_url(reverse("scoring:alert_list")),
    }
