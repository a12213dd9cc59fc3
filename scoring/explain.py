"""What a score's stored evidence says in a few words: the tutor list's "why" column and chips,
the API's `why`, an alert card's line and the digest's. Plain functions over the stored JSON."""

from typing import Any

# How each flag's events read in a few words ("7 of 18 rescheduled").
EVIDENCE_WORDS = {
    "reschedule_rate": "rescheduled",
    "no_show_rate": "missed",
    "first_session": "new students not back",
}


# A score's evidence as stored: {flag kind: Evidence.json} (scoring/evidence.py).
EvidenceJson = dict[str, dict[str, Any]]


def evidence_why(evidence: EvidenceJson | None) -> str:
    """A few words on the flag, or else the watched rate, that says most: '7 of 18 rescheduled, 30 d'."""
    ranked = [
        (kind, verdict)
        for kind, verdict in (evidence or {}).items()
        if verdict.get("state") in ("flagged", "watching")
    ]
    if not ranked:
        return ""
    kind, _ = max(ranked, key=lambda item: (item[1]["state"] == "flagged", item[1]["strength"]))
    return kind_why(evidence, kind)


def kind_why(evidence: EvidenceJson | None, kind: str) -> str:
    """The evidence of one flag kind in a few words ('3 of 12 missed, 30 d'), '' without any."""
    verdict = (evidence or {}).get(kind)
    if not verdict or not verdict.get("total"):
        return ""
    return f"{verdict['events']} of {verdict['total']} {EVIDENCE_WORDS[kind]}, {verdict['window_days']} d"


# Short names of the flag kinds for list chips: a row says which flag, not only "High".
KIND_CHIPS = {"reschedule_rate": "Reschedules", "no_show_rate": "No-shows", "first_session": "First sessions"}


def evidence_chips(evidence: EvidenceJson | None) -> list[tuple[str, str, str]]:
    """[(kind, chip label, 'flagged' | 'watching')] of the kinds beyond their threshold, flags first."""
    chips = [
        (kind, KIND_CHIPS[kind], verdict["state"])
        for kind, verdict in (evidence or {}).items()
        if kind in KIND_CHIPS and verdict.get("state") in ("flagged", "watching")
    ]
    return sorted(chips, key=lambda chip: (chip[2] != "flagged", list(KIND_CHIPS).index(chip[0])))
