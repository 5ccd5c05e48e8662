from django.urls import path

from terminals import consumers

websocket_urlpatterns = [
    path("ws/sessions/<int:session_id>/events/", consumers.SessionEventsConsumer.as_asgi()),
    path("ws/sessions/<int:session_id>/terminal/<slug:node>/", consumers.TerminalConsumer.as_asgi()),
    path("ws/console/sessions/<int:session_id>/terminal/<slug:node>/", consumers.WatchConsumer.as_asgi()),
]
