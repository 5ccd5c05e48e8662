from django.urls import path

from tests.lms import views

urlpatterns = [
    path("course/", views.course),
    path("start/", views.start),
    path("authorize/", views.authorize),
    path("jwks/", views.jwks),
    path("token/", views.token),
    path("lineitems/<int:n>/scores", views.scores),
    path("deep-link-return/", views.deep_link_return),
]
