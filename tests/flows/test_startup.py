"""Start-up cost of `adsync run`: what the CLI path imports before the first report call.

Not a timing test: it checks which heavy modules are (not) imported, which is what decides the
start-up time (bench/laike_daily.py --only cli measures it; figures in bench/RESULTS.md).
"""

from __future__ import annotations

import json
import subprocess
import sys

from flows.laike import FLUSH_ROWS
from integrations.feishu.client import BATCH_SIZE
from tests.flows.sandboxed import ROOT


def test_flush_rows_is_one_bitable_batch() -> None:
    assert FLUSH_ROWS == BATCH_SIZE


def test_the_flow_modules_do_not_import_lark_oapi() -> None:
    # lark-oapi imports every product API of the SDK (seconds); the flows need it only when
    # they first write to Bitable, by which time the fetch is under way.
    code = (
        "import json, sys\n"
        "import flows.cli, flows.run_cli, flows.laike, flows.douplus, flows.dpa, flows.accounts\n"
        "import flows.douplus_intraday, integrations.events\n"
        "import integrations.feishu, integrations.feishu.specs\n"
        "print(json.dumps(sorted(m for m in ('lark_oapi',) if m in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == []


def test_the_lazy_feishu_package_still_exports_its_names() -> None:
    import integrations.feishu as feishu

    for name in feishu.__all__:
        assert getattr(feishu, name) is not None, name


def test_preload_imports_the_sink_once_in_the_background() -> None:
    # A flow's fan-out calls it when Bitable is on (flows/context.py): the write lane's first
    # step then finds lark-oapi imported instead of importing it (seconds) itself.
    code = (
        "import json, sys, threading\n"
        "import integrations.feishu as feishu\n"
        "feishu.preload(); feishu.preload()\n"
        "started = [t for t in threading.enumerate() if t.name == 'preload-feishu']\n"
        "for t in started: t.join()\n"
        "print(json.dumps([len(started), 'integrations.feishu.sink' in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == [1, True]
