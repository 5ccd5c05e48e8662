from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"

    def ready(self):
        from console import workers  # noqa: F401  (connects the task-failure recorder)
