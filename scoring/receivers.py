"""Signal receivers of the scoring app (connected in ScoringConfig.ready)."""

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from tutorscore.lib.tasks import enqueue

from .models import ScoringSettings


@receiver(post_save, sender=ScoringSettings, dispatch_uid="scoring.settings_changed")
def settings_changed(
    sender: type[ScoringSettings],
    instance: ScoringSettings,
    created: bool,
    raw: bool = False,
    **kwargs: object,
) -> None:
    """New thresholds or weights: rescore every tutor once the change is committed."""
    if raw or created:  # loaddata, or the default row appearing on first load: nothing changed
        return
    # A lost task never fails the admin's save: the hourly recompute applies the settings anyway.
    transaction.on_commit(
        lambda: enqueue(
            "scoring.tasks.recompute_all_task", fallback="the hourly recompute applies the settings"
        )
    )
