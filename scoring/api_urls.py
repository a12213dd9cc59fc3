"""Read endpoints of the platform API (/api/tutors...), mounted under /api/ by the root urls."""

app_name = "scoring_api"

urlpatterns: list = []
