from django.urls import path

from course import views

app_name = "course"
urlpatterns = [
    path("", views.course_map, name="map"),  # the default course
    path("<slug:course>/", views.course_map, name="map"),
]
