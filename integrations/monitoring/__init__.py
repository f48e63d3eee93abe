"""Operational monitoring for adsync: run history, freshness, anomalies, token and Bitable health.

Plain Python (no Prefect import unless a Prefect API is configured and reachable). ``monitor.py``
at the top level is a thin CLI over :mod:`integrations.monitoring.cli`.
"""
