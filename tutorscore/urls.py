from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

admin.site.site_header = "TutorScore operations"
admin.site.site_title = "TutorScore admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("sessions.urls")),
    path("reports/", include("reports.urls")),
    path("", include("scoring.urls")),
]
