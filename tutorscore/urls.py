from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import health

admin.site.site_header = "TutorScore operations"
admin.site.site_title = "TutorScore admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("anymail/", include("reports.webhook_urls")),  # provider tracking webhooks, closed by default
    path("api/", include("scoring.api_urls")),  # read endpoints (scores)
    path("healthz", health.healthz, name="healthz"),
    path("", include("sessions.urls")),  # ingest API
    path("reports/", include("reports.urls")),
    path("", include("scoring.urls")),  # dashboard
]

handler400 = "tutorscore.errors.bad_request"
handler403 = "tutorscore.errors.permission_denied"
handler404 = "tutorscore.errors.page_not_found"
handler500 = "tutorscore.errors.server_error"
