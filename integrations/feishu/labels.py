"""Chinese labels for enum values shown in Bitable (the DB keeps the raw API value).

A label map is attached to a text field (``FieldSpec.labels``) and applied when the cell is
written and hashed (integrations/feishu/values.py); a value missing from the map is shown raw,
never dropped, so a new platform status still reaches the table.
"""

from __future__ import annotations

# DOU+ order ``task_status`` (also the ad ``ad_status`` / filter ``status`` enum): the values of
# sandbox/oceanengine/douplus.py STATUSES (docs/contracts/oceanengine.md, "Status enum"). Wording
# from the Go SDK's enum comments cited there, where DELIVERIED reads "投放完成/结束".
DOUPLUS_TASK_STATUS_LABELS: tuple[tuple[str, str], ...] = (
    ("UNPAID", "未支付"),
    ("AUDITING", "审核中"),
    ("OFFLINE_AUDIT", "审核不通过"),
    ("TIME_NO_REACH", "待开播"),
    ("DELIVERING", "投放中"),
    ("UNDELIVERIED", "投放终止"),
    ("DELIVERIED", "投放完成"),
    ("AUDIT_PAUSE", "审核暂停"),
    ("WAIT_TO_START", "等待开始"),
)

# DOU+ ranking periods (integrations/sources/oceanengine/transforms/douplus_periods.py PERIODS).
DOUPLUS_PERIOD_LABELS: tuple[tuple[str, str], ...] = (
    ("today", "当日"),
    ("last_7_days", "近7天"),
    ("last_30_days", "近30天"),
    ("all_time", "累计"),
)
