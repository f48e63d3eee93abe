"""adsync operations monitor: ``python monitor.py view [N] | freshness | check | metrics | tokens |
serve`` (``serve``: HTTP ``/health`` and ``/metrics``).

A thin entry point; the logic lives in :mod:`integrations.monitoring` (importable and tested).
Imports are lazy so ``--help`` and ledger-only checks stay fast and Prefect-free.
"""

from __future__ import annotations


def main() -> None:
    from integrations.monitoring.cli import main as run

    run()


if __name__ == "__main__":
    main()
