"""The truth over time as a CSV file, and a small API to read it back (for bench/detection.py).

One row per tutor and segment of constant true rates:

    tutor_id,external_id,profile,valid_from,valid_to,reschedule_rate,no_show_rate,retention_rate,sessions_per_day

Times are ISO 8601 UTC (`2026-11-25T12:00:00Z`); a segment holds [valid_from, valid_to), and one
tutor's segments tile the generated history [now − days, now] without gap or overlap. Rates are
fractions with 4 decimals (see truth.py for what each one is the probability of); profile is the
label of the segment's rates (truth.profile_of); sessions_per_day is the tutor's volume, 0 once
an inactive tutor stopped teaching.
"""

import csv
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from .plan import TutorPlan

COLUMNS = (
    "tutor_id",
    "external_id",
    "profile",
    "valid_from",
    "valid_to",
    "reschedule_rate",
    "no_show_rate",
    "retention_rate",
    "sessions_per_day",
)


@dataclass(frozen=True)
class Segment:
    tutor_id: str
    external_id: str
    profile: str
    valid_from: datetime
    valid_to: datetime
    reschedule_rate: float
    no_show_rate: float
    retention_rate: float
    sessions_per_day: float

    def covers(self, moment: datetime) -> bool:
        return self.valid_from <= moment < self.valid_to


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def segments_of(plans: Iterable[TutorPlan]) -> list[Segment]:
    """The manifest's segments of these tutors, rounded as the file has them."""
    segments = []
    for plan in plans:
        volume = round(plan.sessions_per_day, 4)
        for period in plan.truth.periods:
            segments.append(
                Segment(
                    tutor_id=str(plan.id),
                    external_id=plan.external_id,
                    profile=period.profile,
                    valid_from=_time(period.start),
                    valid_to=_time(period.end),
                    reschedule_rate=round(period.rates.reschedule, 4),
                    no_show_rate=round(period.rates.no_show, 4),
                    retention_rate=round(period.rates.retention, 4),
                    sessions_per_day=volume if period.active else 0.0,
                )
            )
    return segments


def write_manifest(plans: Iterable[TutorPlan], file: IO[str]) -> None:
    """Write the truth of every tutor, segment after segment (see the module docstring)."""
    writer = csv.writer(file)
    writer.writerow(COLUMNS)
    for segment in segments_of(plans):
        writer.writerow(
            [
                segment.tutor_id,
                segment.external_id,
                segment.profile,
                _iso(segment.valid_from),
                _iso(segment.valid_to),
                f"{segment.reschedule_rate:.4f}",
                f"{segment.no_show_rate:.4f}",
                f"{segment.retention_rate:.4f}",
                f"{segment.sessions_per_day:.4f}",
            ]
        )


def read_manifest(path: str | Path | IO[str]) -> list[Segment]:
    """The segments of a manifest file (a path or an open text file), in file order."""
    if isinstance(path, str | Path):
        with open(path, newline="") as file:
            return read_manifest(file)
    return [
        Segment(
            tutor_id=row["tutor_id"],
            external_id=row["external_id"],
            profile=row["profile"],
            valid_from=datetime.fromisoformat(row["valid_from"]),
            valid_to=datetime.fromisoformat(row["valid_to"]),
            reschedule_rate=float(row["reschedule_rate"]),
            no_show_rate=float(row["no_show_rate"]),
            retention_rate=float(row["retention_rate"]),
            sessions_per_day=float(row["sessions_per_day"]),
        )
        for row in csv.DictReader(path)
    ]


def by_tutor(segments: Iterable[Segment]) -> dict[str, list[Segment]]:
    """{tutor_id: that tutor's segments in time order}: index once, then look up many times."""
    index: dict[str, list[Segment]] = {}
    for segment in segments:
        index.setdefault(segment.tutor_id, []).append(segment)
    for tutor_segments in index.values():
        tutor_segments.sort(key=lambda segment: segment.valid_from)
    return index


def true_rates_at(
    segments: Iterable[Segment] | Mapping[str, list[Segment]], tutor_id: uuid.UUID | str, moment: datetime
) -> Segment | None:
    """The segment holding a tutor's true rates at `moment` (the end of the history counts as in
    its last segment); None outside the history. `segments`: a list, or by_tutor() of it."""
    tutor_id = str(tutor_id)
    if isinstance(segments, Mapping):
        candidates = segments.get(tutor_id, [])
    else:
        candidates = [segment for segment in segments if segment.tutor_id == tutor_id]
    for segment in candidates:
        if segment.covers(moment):
            return segment
    last = max(candidates, key=lambda segment: segment.valid_to, default=None)
    return last if last is not None and moment == last.valid_to else None
