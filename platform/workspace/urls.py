"""The day page and everything on it: /course/COURSE/day/N/ for the page (/course/day/N/ is a day
of the default course), /sessions/ID/... for the learner's lab session, /labs/sessions/ID/steps/N/...
for its steps."""

from django.urls import path

from workspace import day, lab, steps

app_name = "workspace"

# A day's paths name its course; without it they are the default course's (older links stay good).
urlpatterns = [
    path("course/<slug:course>/day/<int:day>/", day.day, name="day"),
    path("course/<slug:course>/day/<int:day>/seen/", day.seen, name="seen"),
    path("course/<slug:course>/day/<int:day>/lab/", day.day_panel, name="day_panel"),
    path("course/<slug:course>/day/<int:day>/quiz/<int:number>/", day.quiz_answer, name="quiz"),
    path("sessions/start/<slug:course>/<int:day>/", lab.start, name="start"),
    path("course/day/<int:day>/", day.day, name="day"),
    path("course/day/<int:day>/seen/", day.seen, name="seen"),
    path("course/day/<int:day>/lab/", day.day_panel, name="day_panel"),
    path("course/day/<int:day>/quiz/<int:number>/", day.quiz_answer, name="quiz"),
    path("sessions/start/<int:day>/", lab.start, name="start"),
    path("sessions/<int:session_id>/end/", lab.end, name="end"),
    path("sessions/<int:session_id>/reset/", lab.reset, name="reset"),
    path("sessions/<int:session_id>/extend/", lab.extend, name="extend"),
    path("sessions/<int:session_id>/panel/", lab.panel, name="panel"),
    path("sessions/<int:session_id>/architecture/", lab.architecture_view, name="architecture"),
    path("sessions/<int:session_id>/download/", lab.download, name="download"),
    path("sessions/<int:session_id>/download/<str:token>/", lab.download_status, name="download_status"),
    path("sessions/<int:session_id>/download/<str:token>/file", lab.download_file, name="download_file"),
    path("labs/sessions/<int:session_id>/steps/<int:position>/", steps.step, name="step"),
    path("labs/sessions/<int:session_id>/steps/<int:position>/check/", steps.check, name="check"),
    path("labs/sessions/<int:session_id>/steps/<int:position>/solution/", steps.reveal_solution, name="solution"),
]
