"""Schema, engine and session factory. The only package that creates an engine."""
