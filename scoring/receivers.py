"""Signal receivers of the scoring app (connected in ScoringConfig.ready)."""

import logging

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from django_q.tasks import async_task

from .models import ScoringSettings

logger = logging.getLogger(__name__)


def _enqueue_recompute():
    try:
        async_task("scoring.tasks.recompute_all_task")
    except Exception:
        # The hourly recompute applies the new settings anyway; never fail the admin's save.
        logger.exception("could not enqueue the recompute after a settings change")


@receiver(post_save, sender=ScoringSettings, dispatch_uid="scoring.settings_changed")
def settings_changed(sender, instance, created, raw=False, **kwargs):
    """New thresholds or weights: rescore every tutor once the change is committed."""
    if raw or created:  # loaddata, or the default row appearing on first load: nothing changed
        return
    transaction.on_commit(_enqueue_recompute)
