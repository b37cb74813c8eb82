"""Where the tests find the repository's own files: the checkout, the test data and
the test keyring backends (all inside the repository; nothing is read from beside it)."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
DATA = TESTS / "data"
TEST_BACKENDS = Path(__file__).resolve().parent / "keyring_backends"
"""The keyring backends that are locked, broken or slow (``acp_test_keyrings``)."""
