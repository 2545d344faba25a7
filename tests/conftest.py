"""Session-wide checks of the make variables the tests read (before anything is built)."""

import os

import pytest


def pytest_configure(config):
    # A bad SEED is one line and exit 4 (pytest's usage error), not a hundred failed benches.
    from tb.runner import parse_seed
    try:
        parse_seed(os.environ.get("SEED"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
