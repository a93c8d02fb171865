"""Helpers for the Data screen: the import flow's state and deferred export downloads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import streamlit as st

from core.exporting import export_bytes
from ui.auth import CurrentUser
from ui.db import get_session

IGNORE = "(ignore)"


def export_download(kind: str, user: CurrentUser, as_of: date | None) -> Callable[[], bytes]:
    """A callable for st.download_button: builds the export only when clicked, audited."""

    def build() -> bytes:
        with get_session() as session:
            return export_bytes(session=session, kind=kind, roles=user.roles, actor=user.username, as_of=as_of)

    return build


def overrides_from_editor(edited, detected: dict[str, str]) -> dict[str, str | None]:  # noqa: ANN001
    """File column -> field chosen in the mapping editor, where it differs from the detected one."""
    out: dict[str, str | None] = {}
    for column, field in zip(edited["file column"], edited["feeds field"], strict=True):
        chosen = None if field in (None, "", IGNORE) else field
        if chosen != detected.get(column):
            out[column] = chosen
    return out


def export_button(kind: str, user: CurrentUser, *, label: str, key: str) -> None:
    """The same audited, formula-safe export as `python -m core export KIND`, as a download."""
    st.download_button(label, data=export_download(kind, user, None), file_name=f"{kind}.csv",
                       mime="text/csv", key=key, icon=":material/download:")
