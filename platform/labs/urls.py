from django.urls import path

from labs import views

app_name = "labs"
urlpatterns = [
    path("sessions/<int:session_id>/steps/<int:position>/", views.step, name="step"),
    path("sessions/<int:session_id>/steps/<int:position>/check/", views.check, name="check"),
    path("sessions/<int:session_id>/steps/<int:position>/solution/", views.reveal_solution, name="solution"),
]
