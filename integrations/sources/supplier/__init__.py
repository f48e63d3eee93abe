"""The supplier (海尔 open platform) source: client-credentials client, endpoints, tolerant models,
pure polars transforms and the image store. No public contract exists; see QUIRKS.md."""
