"""Pure polars transforms of Ocean Engine rows (no I/O)."""
