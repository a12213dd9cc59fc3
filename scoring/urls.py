from django.urls import path

from . import views

app_name = "scoring"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("tutors/<uuid:tutor_id>/", views.tutor_detail, name="tutor_detail"),
]
