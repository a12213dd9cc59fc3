from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("", views.email_log, name="email_log"),
    path("<uuid:report_id>/resend/", views.resend, name="resend"),
    path("preview/<str:kind>/", views.preview, name="preview"),
]
