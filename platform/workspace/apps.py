from django.apps import AppConfig


class WorkspaceConfig(AppConfig):
    """The day page: a lesson with its quiz, the lab panel (start, steps, checks, timer) and the
    terminal. Reads course, labs and sandboxes; owns no models."""

    name = "workspace"
