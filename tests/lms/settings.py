"""Settings of the test learning platform (LMS_URL: where it serves; BERTH_URL: the tool)."""

SECRET_KEY = "test-learning-platform-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = []
MIDDLEWARE = []
ROOT_URLCONF = "tests.lms.urls"
DATABASES = {}
USE_TZ = True
