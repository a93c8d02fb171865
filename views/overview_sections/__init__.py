"""The Overview screen's sections, one module each, drawn in order by views/overview.py.

They are not pages of their own (app.py's navigation does not list them): the page script
reads the filters once into a `context.Context` and calls one function per section, in the
order the screen shows them, so every widget keeps its key and its place.
"""
