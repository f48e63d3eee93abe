"""The worker path logs no "Engine execution exited with unexpected exception" traceback for a
Partial/Failed run (issue 16, item 3); the deployment test shows it end to end through a real
worker, this pins the mechanism to the installed Prefect."""

from __future__ import annotations

import inspect
import logging
import sys
from datetime import date

import prefect.flow_engine

from flows.summary import AccountResult, RunNotGreen, RunSummary
from flows.sync_run import _ENGINE_EXIT_MESSAGE, RunNotStarted, _ExpectedFailure
from integrations.settings import ConfigError


def _record(exc: BaseException) -> logging.LogRecord:
    try:
        raise exc
    except BaseException:
        info = sys.exc_info()
    return logging.LogRecord(
        "prefect.flow_runs", logging.ERROR, __file__, 1, _ENGINE_EXIT_MESSAGE, None, info
    )


def test_prefect_still_logs_that_message_in_run_flow():
    # If Prefect changes the message, the filter would silently stop matching.
    assert repr(_ENGINE_EXIT_MESSAGE) in inspect.getsource(prefect.flow_engine.run_flow).replace(
        '"', "'"
    )


def test_filter_is_installed_and_drops_only_our_expected_failure():
    flt = next(
        f for f in logging.getLogger("prefect.flow_runs").filters if isinstance(f, _ExpectedFailure)
    )
    summary = RunSummary(
        flow="laike-daily",
        window_start=date(2026, 11, 24),
        window_end=date(2026, 11, 24),
        accounts=[AccountResult(1), AccountResult(2, ok=False, reason="code 40002")],
    )
    assert flt.filter(_record(RunNotGreen.of(summary))) is False
    assert flt.filter(_record(RunNotStarted("end 2099-01-01 is in the future"))) is False
    assert flt.filter(_record(RuntimeError("a bug"))) is True  # real crashes stay visible
    assert flt.filter(_record(ConfigError("raised elsewhere"))) is True
    other = _record(RunNotGreen.of(summary))
    other.msg = "something else"
    assert flt.filter(other) is True


def test_refused_parameters_leave_one_line_not_a_traceback():
    """A deployment run with ``date=2026-02-30``: Prefect logs "Validation of flow parameters
    failed with error: … date: …" (one line) and then re-raised it as unexpected (traceback)."""
    from prefect.exceptions import ParameterTypeError
    from pydantic import ValidationError

    from flows.laike import laike_daily

    try:
        laike_daily.validate_parameters({"date": "2026-02-30"})
    except ParameterTypeError as e:
        refused = e
    else:
        raise AssertionError("Prefect accepted 2026-02-30")
    assert "date" in str(refused) and not isinstance(refused, ValidationError)
    flt = next(
        f for f in logging.getLogger("prefect.flow_runs").filters if isinstance(f, _ExpectedFailure)
    )
    record = _record(refused)
    assert flt.filter(record) is True
    assert record.exc_info is None  # no traceback
    line = record.getMessage()
    assert line.startswith("Run refused: Flow run received invalid parameters: - date: Input")
    assert "\n" not in line
