from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from console.metrics import metrics_view

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="course:map", permanent=False)),
    path("accounts/", include("accounts.urls")),
    path("course/", include("course.urls")),
    path("", include("workspace.urls")),
    path("recordings/", include("terminals.urls")),
    path("console/", include("console.urls")),
    path("studio/", include("studio.urls")),
    path("django-admin/", admin.site.urls),
    path("metrics", metrics_view, name="metrics"),  # Prometheus (docs/operations.md)
]
