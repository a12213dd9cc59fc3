"""Dashboard views (placeholder pages until the dashboard issue lands)."""

from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import get_object_or_404, redirect

from sessions.models import Tutor


@staff_member_required
def overview(request):
    return redirect("admin:index")


@staff_member_required
def tutor_detail(request, tutor_id):
    tutor = get_object_or_404(Tutor, pk=tutor_id)
    return redirect("admin:tutoring_tutor_change", tutor.pk)
