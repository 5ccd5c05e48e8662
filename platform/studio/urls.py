from django.urls import path

from studio import insights, views

app_name = "studio"
urlpatterns = [
    path("", views.index, name="index"),
    path("labs/<slug:slug>/test/", views.test_lab, name="test_lab"),
    path("selftests/<int:run_id>/", views.run_page, name="selftest"),
    path("insights/", insights.insights_index, name="insights"),
    path("insights/<slug:slug>/", insights.lab_insights, name="lab_insights"),
    path("<str:kind>/<str:key>/", views.edit, name="edit"),
    path("<str:kind>/<str:key>/preview/", views.preview, name="preview"),
    path("<str:kind>/<str:key>/save/", views.save, name="save"),
    path("<str:kind>/<str:key>/versions/", views.history, name="history"),
    path("<str:kind>/<str:key>/versions/<int:number>/", views.version, name="version"),
    path("<str:kind>/<str:key>/versions/<int:number>/publish/", views.publish, name="publish"),
    path("<str:kind>/<str:key>/versions/<int:number>/restore/", views.restore, name="restore"),
]
