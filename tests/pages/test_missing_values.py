"""A missing value in a table reads as a dash, never "None" (st.dataframe's own placeholder for a
missing cell is the word None): every table on every screen, as the roles that open them."""

from __future__ import annotations

import pytest

from core import formatting as fmt
from tests.pages.helpers import app_as, open_tab

SCREENS = {
    "manager": ["views/my_work.py", "views/overview.py", "views/accounts.py", "views/feedback.py", "views/nps.py",
                "views/loyalty.py"],
    "admin": ["views/admin.py", "views/data.py"],
}
# Screens whose tabs run only when opened (st.tabs on_change="rerun"): every tab is looked at.
LAZY_TABS = {"views/admin.py": ("admin_tab", ["Users", "Audit log", "Churn model", "Loyalty", "Feedback model",
                                              "Task rules"]),
             "views/loyalty.py": ("loy_tab", ["Balances", "Expiring in 30 days", "Customer ledger", "Programme"])}


@pytest.mark.parametrize("username", sorted(SCREENS))
def test_every_table_shows_a_missing_value_as_a_dash(demo_app: str, username: str) -> None:
    assert fmt.DASH == "–"
    seen = 0
    for screen in SCREENS[username]:
        at = app_as(username, screen, timeout=120)
        key, labels = LAZY_TABS.get(screen, (None, [None]))
        for label in labels:
            if label is not None:
                open_tab(at, key, label)
            assert not at.exception, (screen, label, at.exception)
            tables = list(at.dataframe)
            seen += len(tables)
            assert [t.proto.placeholder for t in tables] == ["–"] * len(tables), (screen, label)
    assert seen >= 2  # the check looked at tables
    at = app_as(username, "views/account.py", timeout=120, id="1")
    assert [t.proto.placeholder for t in at.dataframe] == ["–"] * len(at.dataframe)
