"""A real OpenID Connect identity provider for the single sign-on tests: a small Django project
around django-oidc-provider (from PyPI), run by tests/test_sso.py as a server of its own."""
