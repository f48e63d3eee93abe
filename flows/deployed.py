"""Deployment entrypoints (prefect.yaml): each flow with its run timeout.

Prefect 3.8.8 has no deployment-level timeout: prefect.yaml's deployment schema, the process work
pool's job variables and Prefect's settings have none; the engine enforces only the flow's own
``timeout_seconds``. So each deployment's entrypoint is its flow with that option set, and
``adsync run`` from a terminal (a backfill someone watches) keeps no limit.

A run past its timeout ends Failed, named ``TimedOut``: its concurrency slot and the API quota free
up for the next run, and ``monitor.py check`` reports it like any failed run. The limits stay below
the monitor's hung-run threshold (``ADSYNC_MONITOR_RUN_TIMEOUT_H``, 2 h), so Prefect stops a stuck
run before the monitor has to call it hung. Daily flows take minutes (bench/RESULTS.md); the limit
leaves room for a lookback after an outage. The hourly account listing must end before the next
hour's run starts.
"""

from __future__ import annotations

from flows.accounts import accounts_hourly as _accounts_hourly
from flows.douplus import douplus_daily as _douplus_daily
from flows.douplus_intraday import douplus_intraday as _douplus_intraday
from flows.dpa import dpa_daily as _dpa_daily
from flows.laike import laike_daily as _laike_daily
from flows.supplier import supplier_daily as _supplier_daily
from flows.supplier import supplier_prices as _supplier_prices
from flows.supplier import supplier_stock as _supplier_stock

DAILY_TIMEOUT_S = 100 * 60
HOURLY_TIMEOUT_S = 45 * 60
HALF_HOURLY_TIMEOUT_S = 25 * 60  # the 30-minute stock run must end before the next one

laike_daily = _laike_daily.with_options(timeout_seconds=DAILY_TIMEOUT_S)
douplus_daily = _douplus_daily.with_options(timeout_seconds=DAILY_TIMEOUT_S)
dpa_daily = _dpa_daily.with_options(timeout_seconds=DAILY_TIMEOUT_S)
accounts_hourly = _accounts_hourly.with_options(timeout_seconds=HOURLY_TIMEOUT_S)
supplier_daily = _supplier_daily.with_options(timeout_seconds=DAILY_TIMEOUT_S)
supplier_prices = _supplier_prices.with_options(timeout_seconds=HOURLY_TIMEOUT_S)
supplier_stock = _supplier_stock.with_options(timeout_seconds=HALF_HOURLY_TIMEOUT_S)
douplus_intraday = _douplus_intraday.with_options(timeout_seconds=HOURLY_TIMEOUT_S)
