from django.contrib import admin
from django.urls import include, path

from console.metrics import metrics_view
from course.views import home

urlpatterns = [
    path("", home, name="home"),
    path("accounts/", include("accounts.urls")),
    path("accounts/sso/", include("allauth.urls")),  # single sign-on (accounts/sso.py)
    path("course/", include("course.urls")),
    path("", include("workspace.urls")),
    path("recordings/", include("terminals.urls")),
    path("console/", include("console.urls")),
    path("classes/", include("classes.urls")),
    path("lti/", include("lti.urls")),  # LTI 1.3 launches from learning platforms
    path("studio/", include("studio.urls")),
    path("django-admin/", admin.site.urls),
    path("metrics", metrics_view, name="metrics"),  # Prometheus (docs/operations.md)
]
