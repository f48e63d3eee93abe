"""``adsync serve``: run the deployments of prefect.yaml from one process (no work pool).

prefect.yaml stays the single place where deployments, schedules and parameters are declared;
this reads it and hands the same definitions to ``prefect.serve``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from integrations.settings import ConfigError


def load_deployments(prefect_yaml: Path) -> list[dict[str, Any]]:
    if not prefect_yaml.is_file():
        raise ConfigError(f"prefect.yaml: no such file {str(prefect_yaml)!r}")
    doc = yaml.safe_load(prefect_yaml.read_text(encoding="utf-8")) or {}
    return list(doc.get("deployments") or [])


def _load_flow(entrypoint: str, root: Path):
    path, _, name = entrypoint.partition(":")
    file = (root / path).resolve()
    module_name = ".".join(Path(path).with_suffix("").parts)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    spec = importlib.util.find_spec(module_name)
    if spec is None:  # fall back to loading the file directly
        spec = importlib.util.spec_from_file_location(module_name, file)
    module = importlib.import_module(module_name)
    return getattr(module, name)


def _triggers(d: dict[str, Any]) -> list[Any]:
    """prefect.yaml's ``triggers:`` (automations) as Prefect's deployment trigger models."""
    from prefect.events.schemas.deployment_triggers import DeploymentTriggerTypes
    from pydantic import TypeAdapter

    adapter: TypeAdapter[Any] = TypeAdapter(DeploymentTriggerTypes)
    return [adapter.validate_python(t) for t in d.get("triggers") or []]


def build_runner_deployments(prefect_yaml: Path) -> list[Any]:
    from prefect.schedules import Cron, Interval

    root = prefect_yaml.resolve().parent
    out = []
    for d in load_deployments(prefect_yaml):
        flow = _load_flow(d["entrypoint"], root)
        schedules = []
        for s in d.get("schedules") or []:
            if "cron" in s:
                schedules.append(
                    Cron(s["cron"], timezone=s.get("timezone"), active=s.get("active", True))
                )
            elif "interval" in s:
                schedules.append(
                    Interval(
                        s["interval"], timezone=s.get("timezone"), active=s.get("active", True)
                    )
                )
        dep = flow.to_deployment(
            name=d["name"],
            description=d.get("description"),
            parameters=d.get("parameters") or {},
            tags=d.get("tags") or [],
            schedules=schedules,
            concurrency_limit=d.get("concurrency_limit"),
            triggers=_triggers(d),
        )
        # The runner reloads the flow from this entrypoint: prefect.yaml's (flows/deployed.py,
        # the flow with its timeout), not the module the function was defined in.
        path, _, name = d["entrypoint"].partition(":")
        dep.entrypoint = f"{os.path.relpath(root / path, Path.cwd())}:{name}"
        out.append(dep)
    return out


def serve_deployments(prefect_yaml: Path, *, limit: int = 4) -> None:
    from prefect import serve

    from flows.ephemeral_server import ensure_guarded_server

    ensure_guarded_server()  # without PREFECT_API_URL: a temporary server that dies with us
    serve(*build_runner_deployments(prefect_yaml), limit=limit)
