from django.urls import path

from console import views

app_name = "console"
urlpatterns = [
    path("", views.index, name="index"),
    path("audit/", views.audit_log, name="audit"),
    path("tasks/", views.tasks, name="tasks"),
    path("limits/", views.edit_limits, name="limits"),
    path("sessions/<int:session_id>/end/", views.end, name="end"),
    path("sessions/<int:session_id>/extend/", views.extend, name="extend"),
    path("sessions/<int:session_id>/watch/", views.watch, name="watch"),
    path("hosts/<str:host>/drain/", views.drain, name="drain"),
]
