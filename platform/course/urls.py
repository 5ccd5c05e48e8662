from django.urls import path

from course import views

app_name = "course"
urlpatterns = [
    path("", views.course_map, name="map"),
    path("day/<int:day>/", views.day, name="day"),
    path("day/<int:day>/quiz/<int:number>/", views.quiz_answer, name="quiz"),
]
