import re

import pandas as pd
import streamlit as st

from core import formatting as fmt
from core.config import get_settings
from core.exporting import EXPORT_KINDS
from core.importing import (
    KINDS,
    ImportFailed,
    check_csv,
    derived_key_rule,
    format_table,
    import_csv,
    mapping_choices,
    match_columns,
    read_csv_bytes,
    read_with_preset,
)
from core.presets import PRESETS, detect_preset, presets_for
from core.upload import UploadRefused, check_upload, preview_frame
from ui.auth import require_screen
from ui.data import IGNORE, export_download, overrides_from_editor
from ui.db import get_session
from ui.safe import md

OWN_LAYOUT = "Hearth's own columns"



def _as_code(rule: str) -> str:
    """Our own sentence about the key with its CSV column names (customer_id) set as code, the
    way a person types them in the file's header."""
    return re.sub(r"\b[a-z]+(?:_[a-z]+)+\b", lambda m: f"`{m.group(0)}`", rule)


user = require_screen("data")
st.title("Data")
st.caption("Bring the shop's own history in from CSV files, and take tables out. An import writes all "
           "rows of a file or none; importing the same file again changes nothing.")

tab_import, tab_export = st.tabs(["Import", "Export"])


def _show_summary(lines: list[str], counts: dict) -> None:
    cols = st.columns(4)
    for col, key in zip(cols, ("inserted", "updated", "unchanged", "skipped"), strict=True):
        col.metric(key.capitalize(), f"{counts.get(key, 0):,}")
    st.text("\n".join(lines))


def _import_flow() -> None:
    kind = st.selectbox("What the file holds", KINDS, key="data_kind")
    with st.expander(f"Columns of the {kind} file"):
        st.dataframe(format_table(kind), hide_index=True,
                     column_config={"column": st.column_config.TextColumn("Column"),
                                    "required": st.column_config.CheckboxColumn("Required"),
                                    "contents": st.column_config.TextColumn("Contents")}, placeholder=fmt.DASH)
        st.caption("Names match without regard to case, spaces and underscores. Dates: ISO 8601 or "
                   f"YYYYMMDD. Amounts with a decimal point. Key: {_as_code(derived_key_rule(kind))}.")
    limit_mb = get_settings().max_upload_mb
    upload = st.file_uploader(f"CSV file (UTF-8; comma, semicolon, tab or '|'; up to {limit_mb} MB)",
                              type=["csv"],
                              key="data_upload")
    if upload is None:
        st.info("Choose the kind of records, then a CSV file. Small example files for every kind are in "
                "the examples/ folder; import them in the order products, customers, orders, refunds, feedback, "
                "loyalty, tickets.")
        return
    data = upload.getvalue()
    try:
        check_upload(data, filename=upload.name, max_mb=limit_mb)
    except UploadRefused as exc:
        st.error("The file is refused before reading it:")
        st.text(str(exc))  # it names the file: plain text, never Markdown
        return
    try:
        raw = read_csv_bytes(data, filename=upload.name)
    except ImportFailed as exc:
        # The reason may quote the file's own content: shown as plain text, never as Markdown.
        st.error("The file cannot be read:")
        st.text(str(exc))
        return

    layouts = [OWN_LAYOUT, *presets_for(kind)]
    detected_preset = detect_preset(raw.columns, kind)
    layout = st.selectbox(
        "Layout of the file", layouts, key=f"data_preset_{kind}_{upload.file_id}",
        index=layouts.index(detected_preset) if detected_preset else 0,
        format_func=lambda name: name if name == OWN_LAYOUT else PRESETS[name].title,
        help="A platform's own export is read as it is (detected from the header where it is clear).")
    preset = None if layout == OWN_LAYOUT else layout
    if preset:
        try:
            parsed, _source = read_with_preset(data, filename=upload.name, kind=kind, preset=preset)
        except ImportFailed as exc:
            st.error("The file does not have this layout:")
            st.text(str(exc))
            return
    else:
        parsed = raw

    st.subheader("Preview")
    st.caption(f"{len(raw.frame):,} rows, separated by '{md(raw.delimiter)}'"
               + (", with a byte order mark" if raw.had_bom else "")
               + (", after a 'sep=' line" if raw.sep_hint else "")
               + (f", read as {md(PRESETS[preset].title)}" if preset else ""))
    st.dataframe(preview_frame(parsed.frame), hide_index=True, placeholder=fmt.DASH)

    st.subheader("Columns")
    detected = match_columns(parsed.columns, kind)
    mapping_editor = pd.DataFrame({"file column": parsed.columns,
                                   "feeds field": [detected.mapping.get(c, IGNORE) for c in parsed.columns]})
    edited = st.data_editor(
        mapping_editor, hide_index=True, key=f"data_mapping_{kind}",
        disabled=["file column"],
        column_config={"file column": st.column_config.TextColumn("File column"),
                       "feeds field": st.column_config.SelectboxColumn(
                           "Feeds field", options=[IGNORE, *mapping_choices(kind)], required=True)})
    overrides = overrides_from_editor(edited, detected.mapping)
    match = match_columns(parsed.columns, kind, overrides) if overrides else detected
    if match.extra:
        st.text("Ignored columns: " + ", ".join(match.extra))  # the file's own headers: text, not Markdown

    check_key = (upload.file_id, kind, preset, tuple(sorted(overrides.items())))
    done = st.session_state.get("data_result")
    if done and done["key"] == check_key:
        st.subheader("Imported")
        _show_summary(done["lines"], done["counts"])
        st.caption("Importing the same file again would change nothing. Choose another file to go on.")
        return

    st.subheader("Check")
    if st.session_state.get("data_check_key") != check_key:
        try:
            with get_session() as session, st.spinner("Checking every row…"):
                summary = check_csv(session=session, kind=kind, data=data, filename=upload.name,
                                    mapping=overrides or None, preset=preset)
            st.session_state["data_check"] = {"ok": True, "lines": summary.lines_of_text(),
                                              "counts": summary.counts()}
        except ImportFailed as exc:
            st.session_state["data_check"] = {"ok": False, "summary": exc.summary,
                                              "problems": exc.table().to_dict("records")}
        st.session_state["data_check_key"] = check_key
    check = st.session_state["data_check"]
    if not check["ok"]:
        st.error(md(check["summary"]))
        st.dataframe(pd.DataFrame(check["problems"], columns=["row", "column", "value", "problem"]),
                     hide_index=True, placeholder=fmt.DASH, column_config={
                         "row": st.column_config.NumberColumn("Row", format="%d"),
                         "column": st.column_config.TextColumn("Column"),
                         "value": st.column_config.TextColumn("Value"),
                         "problem": st.column_config.TextColumn("Problem", width="large")})
        st.caption("Row numbers are those a spreadsheet shows (the header is row 1). Fix the file and "
                   "upload it again.")
    else:
        st.success("The file is valid. Importing it would do this:")
        _show_summary(check["lines"], check["counts"])
        if st.button("Import", type="primary", key="data_import_button"):
            bar = st.progress(0.0, text="Starting")
            try:
                with get_session() as session:
                    result = import_csv(
                        session=session, kind=kind, data=data, filename=upload.name, actor=user.username,
                        mapping=overrides or None, preset=preset,
                        progress=lambda f, msg: bar.progress(min(max(f, 0.0), 1.0), text=msg))
            except ImportFailed as exc:
                st.error("Nothing was imported:")
                st.text(str(exc))
                return
            st.session_state["data_result"] = {"key": check_key, "lines": result.lines_of_text(),
                                               "counts": result.counts()}
            st.session_state.pop("data_check_key", None)
            st.rerun()


with tab_import:
    _import_flow()

with tab_export:
    st.caption("One row per record. Cells that a spreadsheet could run as a formula are written as text. "
               "Each download is recorded in the audit log.")
    as_of = st.date_input("As of (empty: today / latest)", value=None, key="export_as_of")
    cols = st.columns(len(EXPORT_KINDS))
    for col, export_kind in zip(cols, EXPORT_KINDS, strict=True):
        col.download_button(f"Download {export_kind}", data=export_download(export_kind, user, as_of),
                            file_name=f"{export_kind}.csv", mime="text/csv", key=f"export_{export_kind}")
