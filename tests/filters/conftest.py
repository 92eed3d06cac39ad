"""Registers the sample filters of ``samples.py`` in ``zaqar_tw.filters`` for every test
here, so ``[filters] chain`` can name them as it would any installed filter."""

import pytest

from tests.filters.distribution import install
from tests.filters.samples import ENTRY_POINTS


@pytest.fixture(autouse=True)
def sample_filters(tmp_path_factory, monkeypatch):
    """The sample filters, installed for this test only."""
    install(
        tmp_path_factory.mktemp("sample-filters"), monkeypatch,
        {"zaqar_tw.filters": ENTRY_POINTS},
    )
