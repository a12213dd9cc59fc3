"""Synthetic platform data (SPEC §10) with a known truth that tests the product.

The data is a pure function of (seed, now): seeded Randoms drive every draw (names come from
Faker's lists) in a fixed order, and every time is computed from `now`. Only `updated_at` and
`sessions_changed_at` (wall-clock bookkeeping) differ between two runs.

The truth (truth.py) comes first; the profile labels are derived from it.
- Each tutor's true tutor-reschedule, tutor-no-show and first-session-retention rates are
  logit-normal around 9.5%, 3% and 83%, and spread continuously across the default thresholds
  (15%, 10%, 60%): about 40% of tutors have a reschedule rate between 10% and 25%, a quarter are
  above 15%. One latent shared by the three measures (loading 0.45, a correlation of about 0.2)
  makes them mostly independent: most tutors beyond a threshold are beyond only one.
- Volume (sessions per day) is drawn on its own, log-normal with sigma 0.7, so at the benchmark's
  size (10,000 tutors, 1,000,000 sessions, 90 days) tutors range from about 0.3 to 3 sessions a
  day whatever their rates.
- Over time: 12% of tutors turn bad on a drawn day (half on reschedules, to 35-60%; a quarter
  on no-shows, to 20-35%; a quarter on retention, down to 25-45%), and 40% of those recover
  14-45 days later; a third of the tutors beyond a threshold at the start improve on a drawn
  day; 15% have a bad week (7 days with reschedules 25-45 points higher, or no-shows 15-30).
- Labels: a tutor's profile is the label of its true rates at `now` (a manifest segment's is
  the label of its rates): high when a rate is clearly beyond its threshold (1.5x: reschedules
  ≥ 22.5%, no-shows ≥ 15%, retention ≤ 40%), medium when near or beyond it (0.85x), low
  otherwise. The distributions are tuned so that gives about 60 / 25 / 15%.
- 90% of tutors are active (exact quota); the others stopped teaching 15-45 days before `now`.

The session mix is an outcome, and it departs from SPEC §10 on purpose: 82.7% completed /
12.3% rescheduled / 5.0% no-show over many tutors, not 70 / 25 / 5. With volume untied from risk
the share of reschedules is the average tutor's rate, so 25% would put the typical tutor far
above the 15% threshold and flag most of the platform; realistic per-tutor truth (most tutors
comfortably under it, a quarter above, a long tail) wins. Everything else keeps SPEC §10: 98.2%
of reschedules tutor-initiated, ~40% last-minute (a per-tutor habit), reasons from a per-tutor
habit, a third of tutors with a bad weekday (mean kept), weekdays busier, 15:00-20:00 peak,
30-120 minute sessions, repeat students, 1% upcoming scheduled sessions.

Sessions follow the truth without bias: each session's status is drawn from its tutor's rates
at its own time, and students are simulated so the product's retention measure finds exactly
the students drawn as retained (students.py). validation_report() checks the mix against SPEC
(or the design above) and the rows against the truth, with tolerances of three standard errors
at the generated size. `--manifest` writes the truth over time (manifest.py).

Rows are built as tuples and written in chunks (store.py): binary COPY on PostgreSQL, into empty
tables without their secondary indexes and foreign keys, which are built and validated once at
the end of the same transaction; bulk_create elsewhere.
"""

import contextlib
import gc
import time
from collections.abc import Callable, Iterator
from typing import IO

from django.db import transaction

from ..models import Reschedule, Session, Tutor
from . import store
from .build import generate_rows
from .manifest import Segment, by_tutor, read_manifest, segments_of, true_rates_at, write_manifest
from .plan import Options, TutorPlan, plan_tutors
from .report import Check, validation_report
from .stats import Stats

__all__ = [
    "Check",
    "Options",
    "Segment",
    "Stats",
    "TutorPlan",
    "by_tutor",
    "generate",
    "generate_rows",
    "plan_tutors",
    "read_manifest",
    "segments_of",
    "true_rates_at",
    "validation_report",
    "write_manifest",
]


def generate(
    options: Options,
    *,
    clear: bool = False,
    manifest: IO[str] | None = None,
    progress: Callable[[str], object] = print,
) -> tuple[list[TutorPlan], Stats]:
    """Generate and store the data set (and write the manifest to the open file `manifest`)."""
    started = time.monotonic()
    plans = plan_tutors(options)
    stats = Stats()
    stats.add_plans(plans)
    with transaction.atomic():
        if clear:
            store.clear_data()
            progress("Cleared existing tutors, sessions, reschedules, scores, alerts and email log.")
        elif store.tutors_exist([plan.id for plan in plans[:100]]):
            raise ValueError(
                f"Data for seed {options.seed} is already loaded; use --clear or another --seed."
            )
        store.write_tutors(
            [
                Tutor(
                    id=plan.id,
                    name=plan.name,
                    email=plan.email,
                    is_active=plan.is_active,
                    created_at=plan.created_at,
                )
                for plan in plans
            ]
        )
        progress(f"Tutors: {len(plans):,}")
        written = 0
        with _without_cycle_collection(), store.checked_and_indexed_after(Session, Reschedule):
            for session_rows, reschedule_rows in generate_rows(plans, options, stats):
                store.write_sessions(session_rows, reschedule_rows)
                written += len(session_rows)
                progress(f"Sessions: {written:,} / {options.sessions:,} ({time.monotonic() - started:.1f} s)")
        store.mark_for_scoring([plan.id for plan in plans])
    stats.seconds = time.monotonic() - started
    if manifest is not None:
        write_manifest(plans, manifest)
    return plans, stats


@contextlib.contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """The rows hold no reference cycles: the cycle collector would only rescan the millions of
    objects they are made of, again and again as they grow (about 6% of the time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
