"""The Admin screen's tabs, one module each, drawn by views/admin.py (not pages of their own)."""
