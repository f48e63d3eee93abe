"""prefect.yaml declares accounts-hourly and dpa-daily with their China-time schedules, and the
entrypoints load into deployments (the same path `adsync serve` takes)."""

from __future__ import annotations

from flows.serve import build_runner_deployments
from tests.flows.sandboxed import ROOT


def test_deployments_schedules_and_parameters() -> None:
    deps = {d.name: d for d in build_runner_deployments(ROOT / "prefect.yaml")}
    want = {
        "accounts-hourly": ("0 * * * *", ["cc_account_types", "tenant"]),
        "dpa-daily": ("30 0 * * *", ["advertisers", "tenant"]),
    }
    for name, (cron, params) in want.items():
        d = deps[name]
        assert d.flow_name == name
        assert [(s.schedule.cron, s.schedule.timezone) for s in d.schedules] == [
            (cron, "Asia/Shanghai")
        ]
        assert list(d._parameter_openapi_schema.properties) == params
        assert d.concurrency_limit == 1
