from django.urls import path

from studio.consumers import SelfTestConsumer

websocket_urlpatterns = [
    path("ws/studio/selftests/<int:run_id>/", SelfTestConsumer.as_asgi()),
]
