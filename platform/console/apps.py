from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"

    def ready(self):
        from console import signals, workers  # noqa: F401  (connect the role-change and task-failure recorders)
