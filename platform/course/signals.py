from django.dispatch import Signal

# load_course took a changed lesson or lab from the files: kind is "lesson" (key: the day, as a
# string) or "lab" (key: its slug). The studio records it as a version.
content_loaded = Signal()
