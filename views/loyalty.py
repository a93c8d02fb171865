from ui.auth import require_screen
from ui.loyalty import render_page

user = require_screen("loyalty")
render_page(user)
