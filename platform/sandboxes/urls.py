from django.urls import path

from sandboxes import views

app_name = "sandboxes"
urlpatterns = [
    path("start/<int:day>/", views.start, name="start"),
    path("<int:session_id>/end/", views.end, name="end"),
    path("<int:session_id>/extend/", views.extend, name="extend"),
    path("<int:session_id>/panel/", views.panel, name="panel"),
    path("<int:session_id>/architecture/", views.architecture_view, name="architecture"),
]
