"""Any ORM write to a session or reschedule (admin, shell, commands) flags its tutor for rescoring
and, for a session, brings the first-session flags of its pair up to date.

Bulk writes skip signals; the ingest and generator code does both itself.
"""

from typing import Any

from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from .first_sessions import refresh_pairs
from .models import Reschedule, Session, Tutor


@receiver(pre_save, sender=Session)
def remember_stored_pair(sender: type[Session], instance: Session, **kwargs: Any) -> None:
    # A save may move the session to another tutor or student: that pair changes too.
    instance._stored_pair = (
        Session.objects.filter(pk=instance.pk).values_list("tutor_id", "student_id").first()
    )


@receiver([post_save, post_delete], sender=Session)
def session_changed(sender: type[Session], instance: Session, **kwargs: Any) -> None:
    pairs = {(instance.tutor_id, instance.student_id)}
    stored = getattr(instance, "_stored_pair", None)  # unset on a delete
    if stored:
        pairs.add(stored)
    # mark_changed locks the tutors before the pairs are read, as the ingest does.
    Tutor.mark_changed(tutor_id for tutor_id, _ in pairs)
    refresh_pairs(pairs)


@receiver([post_save, post_delete], sender=Reschedule)
def reschedule_changed(sender: type[Reschedule], instance: Reschedule, **kwargs: Any) -> None:
    tutor_id = Session.objects.filter(pk=instance.session_id).values_list("tutor_id", flat=True).first()
    if tutor_id:
        Tutor.mark_changed([tutor_id])
