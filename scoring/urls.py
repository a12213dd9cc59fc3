from django.urls import path

from . import views

app_name = "scoring"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("tutors/", views.tutor_list, name="tutor_list"),
    path("tutors/<uuid:tutor_id>/", views.tutor_detail, name="tutor_detail"),
    path("alerts/", views.alert_list, name="alert_list"),
    path("alerts/bulk/", views.alert_bulk, name="alert_bulk"),
    path("alerts/outcomes/", views.coaching_results, name="coaching"),
    path("alerts/outcomes.csv", views.coaching_csv, name="coaching_csv"),
    path("how-scores-work/", views.how_scores_work, name="how_scores_work"),
    *[
        path(
            f"alerts/<uuid:alert_id>/{action}/",
            views.alert_action,
            {"action": action},
            name=f"alert_{action}",
        )
        for action in ("acknowledge", "assign", "note", "resolve", "snooze")
    ],
]
