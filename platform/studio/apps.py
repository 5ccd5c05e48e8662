from django.apps import AppConfig


class StudioConfig(AppConfig):
    name = "studio"

    def ready(self):
        from studio import versions  # noqa: F401  (records what load_course loads as versions)
