"""Any ORM write to a session or reschedule (admin, shell, commands) flags its tutor for rescoring.

Bulk writes skip signals; the ingest and generator code calls Tutor.mark_changed itself.
"""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Reschedule, Session, Tutor


@receiver([post_save, post_delete], sender=Session)
def session_changed(sender, instance, **kwargs):
    Tutor.mark_changed([instance.tutor_id])


@receiver([post_save, post_delete], sender=Reschedule)
def reschedule_changed(sender, instance, **kwargs):
    tutor_id = Session.objects.filter(pk=instance.session_id).values_list("tutor_id", flat=True).first()
    if tutor_id:
        Tutor.mark_changed([tutor_id])
