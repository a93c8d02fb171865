"""Admin → Loyalty: the loyalty settings in force and the expiry job, run by hand (Admin screen only)."""

from __future__ import annotations

import streamlit as st

from core import formatting as fmt
from core import loyalty as core_loyalty
from core.config import get_settings
from core.roles import Role
from ui.db import get_session
from ui.loyalty import today_utc
from ui.safe import md


def render_loyalty_admin(user) -> None:  # noqa: ANN001
    """Admin tab: the loyalty settings in force and the expiry job, run by hand."""
    if not user.has(Role.ADMIN):
        return
    settings = get_settings()
    st.subheader("Loyalty")
    st.text(f"Point value: {settings.point_value:g} (HEARTH_POINT_VALUE)\n"
            + (f"Points expire {settings.points_expiry_months} months after they are earned, unless the entry "
               "says otherwise (HEARTH_POINTS_EXPIRY_MONTHS)\n" if settings.points_expiry_months > 0 else
               "Points never expire by Hearth's rule (HEARTH_POINTS_EXPIRY_MONTHS=0); an entry's own expiry "
               "date and the programme's own expiry rows still count\n")
            + "A change of this rule applies to entries stored after it: points stored before keep the rule "
              "they were stored under\n"
            + "Tiers by points earned in the last 12 months: "
            + ", ".join(f"{t.name} from {t.threshold:,}" for t in core_loyalty.parse_tiers())
            + " (HEARTH_LOYALTY_TIERS)")
    today = today_utc()
    with get_session() as session:
        due = core_loyalty.pending_expiries(session=session, as_of=today)
    st.caption("The expiry job writes an `expire` entry for every lot whose unused points lapsed. "
               "Schedule `python -m core loyalty expire` nightly; running it twice writes nothing new.")
    if not due["entries"]:
        st.success(f"Nothing to expire as of {fmt.date_text(today)}: the ledger records every lapsed point.")
        return
    st.info(f"Due as of {fmt.date_text(today)}: {due['entries']:,} expire entries, {due['points']:,} points, "
            f"{due['customers']:,} customers.")
    if st.button("Write the expire entries now", key="loy_admin_expire", type="primary"):
        try:
            with get_session() as session:
                written = core_loyalty.expire_points(session=session, as_of=today, actor=user.username)
        except core_loyalty.LoyaltyError as exc:
            st.error(md(exc))
            return
        st.success(f"Wrote {written:,} expire entries.")
