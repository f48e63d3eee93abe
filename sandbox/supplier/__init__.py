"""supplier (海尔 open platform) simulator."""
