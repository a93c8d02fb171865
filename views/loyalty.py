from core.roles import may_see_personal_data
from ui.auth import require_screen
from ui.data import export_button
from ui.loyalty import render_page

user = require_screen("loyalty")
render_page(user)
if may_see_personal_data(user.roles):  # per-customer rows: not for the exec's aggregate view
    export_button("loyalty", user, label="Download balances as CSV", key="loyalty_export")
