"""Words of the "Open a count" boxes that the screens need before any drill-down is opened.

Kept apart from the readers so that drawing a box imports no reader: the NPS tile's words
were in core.drilldown.answers, which imports core.feedback (the flag model, scikit-learn),
seconds on an Overview that only names the count.
"""

from __future__ import annotations

# The Overview's NPS tile opened from its "Open a count" box, in the words the screen uses.
NPS_TILE_DRILL = "Answers behind the NPS (with a score, in the period)"
