"""Ops tests reuse the token tests' secret-leak guard (autouse) and sandbox fixtures."""

from tests.token_store.conftest import fernet_key, leak_guard, sandbox  # noqa: F401
