"""Pure polars transforms: API/DB rows in, table-shaped frames and rows out. No I/O, no Prefect.

Conventions (shared with ``integrations.database.tables``):

- Money is exact: summed as integer fen (Int64) or polars Decimal, output as ``Decimal(18, 2)``
  yuan. Never a float.
- Ratios are computed from sums (never averages of ratios) with exact integer arithmetic, rounded
  half-up to 6 places, output as ``Decimal(20, 6)``; ``None`` when the denominator is 0.
- Ids are ``Int64``; dates are China dates (``Date``).
"""
