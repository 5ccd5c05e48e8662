from django.urls import path

from terminals import views

app_name = "terminals"
urlpatterns = [
    path("<int:recording_id>/", views.player, name="player"),
    path("<int:recording_id>.cast", views.cast, name="cast"),
]
