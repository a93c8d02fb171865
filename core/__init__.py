"""Hearth's domain library: scores, KPIs, rules. Plain Python; never imports streamlit."""
