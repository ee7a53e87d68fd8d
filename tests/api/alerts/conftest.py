"""The alerts tests use the notification tests' app, users and webhook receiver."""

from tests.api.notifications.conftest import env  # noqa: F401  (the fixture, shared)
