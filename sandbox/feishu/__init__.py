"""feishu simulator."""
