from django.urls import path

from classes import views

app_name = "classes"
urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.create, name="create"),
    path("<int:class_id>/", views.detail, name="detail"),
    path("<int:class_id>/due/", views.set_due_date, name="due"),
    path("<int:class_id>/invite/", views.new_invite, name="invite"),
    path("<int:class_id>/progress.csv", views.export_csv, name="export"),
    path("join/<str:code>/", views.join, name="join"),
]
