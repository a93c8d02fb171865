"""The Loyalty screen's parts, one module each, drawn by views/loyalty.py (not pages of their own):
members' balances and expiring points, a customer's ledger, the programme's aggregates, and the
exec's breakdown of who holds the points."""
