"""Read endpoints of the platform API (/api/tutors...), mounted under /api/ by the root urls."""

from django.urls import path, register_converter

from tutorscore.converters import AnyCaseUUIDConverter

from . import api

register_converter(AnyCaseUUIDConverter, "anyuuid")

app_name = "scoring_api"

urlpatterns = [
    path("tutors", api.tutor_list, name="tutor_list"),
    path("tutors/<anyuuid:tutor_id>", api.tutor_detail, name="tutor_detail"),
    path("tutors/<anyuuid:tutor_id>/history", api.tutor_history, name="tutor_history"),
]
