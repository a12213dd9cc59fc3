app_name = "tutoring"

urlpatterns: list = []
