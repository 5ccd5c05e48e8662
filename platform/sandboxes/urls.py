from django.urls import path

from sandboxes import views

app_name = "sandboxes"
urlpatterns = [
    path("start/<int:day>/", views.start, name="start"),
    path("<int:session_id>/end/", views.end, name="end"),
    path("<int:session_id>/reset/", views.reset, name="reset"),
    path("<int:session_id>/extend/", views.extend, name="extend"),
    path("<int:session_id>/panel/", views.panel, name="panel"),
    path("<int:session_id>/architecture/", views.architecture_view, name="architecture"),
    path("<int:session_id>/download/", views.download, name="download"),
    path("<int:session_id>/download/<str:token>/", views.download_status, name="download_status"),
    path("<int:session_id>/download/<str:token>/file", views.download_file, name="download_file"),
]
