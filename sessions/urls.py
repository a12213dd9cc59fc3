from django.urls import path

from . import api

app_name = "tutoring"

urlpatterns = [
    path("api/sessions", api.sessions_endpoint, name="api_sessions"),
    path("api/sessions/bulk", api.sessions_bulk_endpoint, name="api_sessions_bulk"),
]
