"""The supplier simulator served over loopback (real HTTP) and clients pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from integrations.retry import RetryPolicy
from integrations.sources.supplier.client import SupplierClient
from integrations.sources.supplier.endpoints import Codes
from sandbox.runner import ServedApp, serve_in_thread
from sandbox.supplier.app import SupplierSim
from sandbox.supplier.data import SupplierData
from sandbox.supplier.knobs import SupplierKnobs

# Small waits: the retry behaviour is what is tested, not the waiting.
FAST_RETRY = RetryPolicy(max_attempts=5, base_delay_s=0.01, max_delay_s=0.05)


class Served:
    def __init__(self, sim: SupplierSim, served: ServedApp) -> None:
        self.sim = sim
        self.url = served.url
        self.codes = Codes(sim.customer_code, sim.send_to_code, sim.supplier_code)


@pytest.fixture
def served() -> Iterator[Served]:
    sim = SupplierSim(SupplierData.generate(seed=7, n_products=30), SupplierKnobs())
    app = serve_in_thread(sim.app)
    try:
        yield Served(sim, app)
    finally:
        app.stop()


@pytest.fixture
def make_client(served: Served) -> Iterator[Callable[..., SupplierClient]]:
    made: list[SupplierClient] = []

    def make(**kwargs: Any) -> SupplierClient:
        kwargs.setdefault("retry", FAST_RETRY)
        kwargs.setdefault("timeout_s", 5.0)
        c = SupplierClient(
            base_url=served.url,
            client_id=served.sim.client_id,
            client_secret=served.sim.client_secret,
            **kwargs,
        )
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()
