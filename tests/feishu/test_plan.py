"""``adsync bitable plan [--apply]``: every mismatch of every table at once; --apply adds only
the missing columns."""

from __future__ import annotations

import pytest

from flows.cli import main
from integrations.settings import get_settings
from tests.feishu.conftest import Feishu, _engine

TOML = """
[bitable_tables.local_promotion_daily]
name = "推广日报"
key_from = ["时间", "单元ID"]
[bitable_tables.local_promotion_daily.fields]
stat_date = "时间"
"""


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    get_settings.cache_clear()
    with pytest.raises(SystemExit) as e:
        main(argv)
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


def test_plan_lists_everything_and_apply_adds_only_missing_columns(
    feishu: Feishu, tmp_path, monkeypatch, capsys
) -> None:
    app = feishu.sim.app_token
    # The old scripts' all-text table, one column renamed (单元名称 → 计划名称) and 转化数 a date.
    tid = feishu.sim.add_table(
        app,
        "推广日报",
        [
            {"field_name": "账户名称", "type": 1},
            {"field_name": "时间", "type": 1},
            {"field_name": "单元ID", "type": 1},
            {"field_name": "计划名称", "type": 1},
            {"field_name": "消耗(元)", "type": 1},
            {"field_name": "转化数", "type": 5},
        ],
    )
    feishu.sim.add_records(app, tid, [{"时间": "2026-11-22", "单元ID": "1"}])
    (tmp_path / "adsync.toml").write_text(TOML, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'a.db'}"
    _engine(url).dispose()
    env = {
        "ADSYNC_DATABASE_URL": url,
        "ADSYNC_FEISHU_BASE_URL": feishu.url,
        "ADSYNC_FEISHU_APP_ID": feishu.sim.app_id,
        "ADSYNC_FEISHU_APP_SECRET": feishu.sim.app_secret,
        "ADSYNC_FEISHU_APP_TOKEN": app,
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)

    feishu.sim.reset_counters()
    code, out, err = _run(["bitable", "plan"], capsys)
    assert code == 1, err
    lines = out.splitlines()
    assert (
        "推广日报: 单元名称: renamed? — no column '单元名称' (text (1)); unmapped columns of that type: 计划名称"
        in out
    )
    assert "推广日报: 转化数: wrong type — found date (5), expected number (2)" in lines
    assert "推广日报: 展示数: renamed? — no column '展示数' (number (2))" in out
    for other in ("本地推账户日报", "DOU+订单", "DOU+视频日报", "DPA商品"):
        assert f"{other}: table missing — created on first run" in lines
    assert feishu.writes() == 0 and feishu.sim.app_secret not in out + err

    code, out, _ = _run(["bitable", "plan", "--apply"], capsys)
    assert code == 1  # the wrong type is left for a person to fix
    created = {
        ln.removeprefix("created 推广日报: ") for ln in out.splitlines() if ln.startswith("created")
    }
    assert {"单元名称", "展示数", "账户ID"} <= created and "转化数" not in created
    fields = {f["field_name"]: f["type"] for f in feishu.sim.fields(app, tid)}
    assert fields["转化数"] == 5 and fields["计划名称"] == 1  # nothing else changed
    assert feishu.count("fields.create") == len(created) and feishu.count("tables.create") == 0

    code, out, _ = _run(["bitable", "plan"], capsys)
    assert [ln for ln in out.splitlines() if "推广日报:" in ln] == [
        "推广日报: 转化数: wrong type — found date (5), expected number (2)"
    ]
