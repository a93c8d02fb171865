"""Streamlit-side helpers shared by the pages: the cached engine, the login gate, cached readers."""
