"""Reading, matching and checking import files, and formula-safe exports (no database)."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from core.exporting import personal_filter, safe_cell, safe_frame, write_csv
from core.importing import (
    ImportFailed,
    Problem,
    check_cells,
    derived_key_rule,
    match_columns,
    normalise_name,
    parse_datetimes,
    read_csv_bytes,
)
from core.roles import Role


def test_bom_and_semicolons_are_read():
    data = "\ufeffCustomer ID;Name;E-mail\nC1;Zoë;z@example.com\n".encode()
    parsed = read_csv_bytes(data, filename="c.csv")
    assert parsed.had_bom and parsed.delimiter == ";"
    assert parsed.columns == ["Customer ID", "Name", "E-mail"]
    assert parsed.frame.iloc[0].tolist() == ["C1", "Zoë", "z@example.com"]


def test_column_names_match_without_case_spaces_underscores():
    match = match_columns(["Customer ID", "SIGNUP_DATE", "e mail", "Email", "favourite colour"], "customers")
    # Two columns for one field: the first feeds it, the second is reported as extra.
    assert match.mapping == {"Customer ID": "customer_id", "SIGNUP_DATE": "signup_date", "e mail": "email"}
    assert match.extra == ["Email", "favourite colour"]
    assert normalise_name(" Order_ID ") == "orderid"


def test_mapping_override_feeds_a_field_and_ignores_a_column():
    match = match_columns(["client", "when", "amount"], "orders",
                          {"client": "customer_id", "when": "ordered_at", "amount": "total"})
    assert match.missing_required == []
    assert match.mapping == {"client": "customer_id", "when": "ordered_at", "amount": "total"}


def test_missing_required_columns_are_named():
    match = match_columns(["submitted_at", "channel"], "feedback")
    assert match.missing_required == ["nps_score or comment"]
    assert match_columns(["customer_id"], "orders").missing_required == ["ordered_at", "total"]


def test_dates_iso_and_yyyymmdd_and_offsets_to_utc():
    values = pd.Series(["2025-03-01", "20250301", "2025-03-01T14:30:00", "2025-03-01 14:30:00",
                        "2025-03-01T14:30:00+02:00", "01/03/2025", "20251301", "yesterday"])
    out = parse_datetimes(values)
    assert out.iloc[0] == pd.Timestamp("2025-03-01") == out.iloc[1]
    assert out.iloc[2] == pd.Timestamp("2025-03-01 14:30") == out.iloc[3]
    assert out.iloc[4] == pd.Timestamp("2025-03-01 12:30")
    assert out.iloc[5:].isna().all()


def _problems(text: str, kind: str) -> list[Problem]:
    parsed = read_csv_bytes(text.encode(), filename="f.csv")
    _typed, problems = check_cells(parsed, kind, match_columns(parsed.columns, kind))
    return sorted(problems, key=lambda p: p.row)


def test_each_bad_cell_names_row_column_and_value():
    problems = _problems("customer_id,ordered_at,total\nC1,2025-02-30,10\nC2,2025-01-01,\"12,50\"\n"
                         "C3,2025-01-01,ten\n,2025-01-01,5\n", "orders")
    assert [(p.row, p.column, p.value) for p in problems] == [
        (2, "ordered_at", "2025-02-30"), (3, "total", "12,50"), (4, "total", "ten"), (5, "customer_id", None)]
    assert "is not a date" in problems[0].message
    assert "is not a number (use digits with a decimal point" in problems[1].message
    assert "required" in problems[3].message


def test_a_whole_number_field_asks_for_whole_numbers_not_a_decimal_point():
    problems = _problems("submitted_at,nps_score,comment\n2025-01-01,ten,Late\n", "feedback")
    assert [(p.row, p.column, p.value, p.message) for p in problems] == [
        (2, "nps_score", "ten", "is not a number (use a whole number from 0 to 10)")]
    problems = _problems("customer_id,ordered_at,total,quantity\nC1,2025-01-01,5,two\n", "orders")
    assert [p.message for p in problems] == ["is not a number (use digits only, like 120)"]


def test_a_semicolon_file_s_amount_with_a_dot_between_thousands_is_refused():
    # By hand: in a semicolon file "1.234" is 1,234 written the decimal-comma way; read as 1.23
    # it lost 1,232.77. A plain amount and one with cents are read.
    problems = _problems("sep=;\norder_id;customer_id;ordered_at;total\n6001;F1;2025-03-01;1.234\n"
                         "6002;F2;2025-03-02;980\n6003;F3;2025-03-03;12.50\n", "orders")
    assert [(p.row, p.column, p.value) for p in problems] == [(2, "total", "1.234")]
    assert "thousands separator" in problems[0].message
    assert _problems("order_id,customer_id,ordered_at,total\n6001,F1,2025-03-01,1.234\n", "orders") == []


def test_a_semicolon_file_s_decimal_commas_are_read_as_amounts():
    # German Excel saves "12,50" and "1.234,56" with semicolons between the columns: by hand
    # 1250 and 123456 cents (-3,5 is -350). The same cells in a comma file stay refused above.
    parsed = read_csv_bytes(b"sep=;\norder_id;customer_id;ordered_at;total\n6001;F1;2025-03-01;12,50\n"
                            b"6002;F2;2025-03-02;1.234,56\n6003;F3;2025-03-03;-3,5\n6004;F4;2025-03-04;7\n"
, filename="f.csv")
    typed, problems = check_cells(parsed, "orders", match_columns(parsed.columns, "orders"))
    assert list(problems) == []
    assert typed["total"].tolist() == [1250, 123456, -350, 700]


def test_row_with_extra_cells_is_refused_by_line():
    with pytest.raises(ImportFailed) as err:
        read_csv_bytes(b"customer_id,ordered_at,total\nC1,2025-01-01,12,50\n", filename="o.csv")
    assert "row 2: has 4 cells, the header has 3" in str(err.value)
    assert [p.row for p in err.value.problems] == [2]


def test_nps_range_loyalty_kind_flags():
    problems = _problems("submitted_at,nps_score\n2025-01-01,11\n2025-01-01,-1\n2025-01-01,7.5\n", "feedback")
    assert [(p.row, p.value, p.message) for p in problems] == [
        (2, "11", "is outside 0 to 10"), (3, "-1", "is outside 0 to 10"), (4, "7.5", "is not a whole number")]
    problems = _problems("customer_id,occurred_at,kind,points\nC1,2025-01-01,bonus,5\n", "loyalty")
    assert (problems[0].row, problems[0].column, problems[0].value) == (2, "kind", "bonus")
    assert "earn, redeem, expire, adjust" in problems[0].message
    problems = _problems("customer_id,email_opt_in\nC1,maybe\n", "customers")
    assert problems[0].column == "email_opt_in"


def test_feedback_needs_score_or_comment():
    problems = _problems("submitted_at,nps_score,comment\n2025-01-01,,\n2025-01-01,,fine\n", "feedback")
    assert [(p.row, p.column) for p in problems] == [(2, "nps_score")]


def test_blank_lines_keep_spreadsheet_row_numbers():
    problems = _problems("customer_id,ordered_at,total\nC1,2025-01-01,1\n\nC2,bad,1\n", "orders")
    assert problems[0].row == 4


def test_binary_and_non_utf8_files_are_refused_clearly():
    with pytest.raises(ImportFailed, match="not a CSV text file"):
        read_csv_bytes(b"PK\x03\x04\x14\x00\x00\x00binary", filename="x.xlsx")
    with pytest.raises(ImportFailed, match="not UTF-8"):
        read_csv_bytes("customer_id,name\nC1,Zoë\n".encode("latin-1"), filename="l.csv")
    with pytest.raises(ImportFailed, match="empty"):
        read_csv_bytes(b"", filename="e.csv")


def test_import_failed_message_lists_first_twenty():
    problems = [Problem(r, "total", "x", "is not a number") for r in range(2, 40)]
    exc = ImportFailed("o.csv", problems, total=38)
    text = str(exc).splitlines()
    assert text[0] == "o.csv: 38 problems (first 20 listed); nothing was imported"
    assert text[1] == "  row 2, column total: 'x' is not a number"
    assert len(text) == 21


def test_derived_key_rule_is_documented_per_kind():
    assert "customer_id + ordered_at + total" in derived_key_rule("orders")
    assert derived_key_rule("customers") == "customer_id is required"


@pytest.mark.parametrize("value", ["=1+1", "+49 30 1234", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_prefixed(value):
    assert safe_cell(value) == "'" + value


def test_numbers_and_plain_text_are_untouched():
    assert safe_cell(-12.5) == -12.5
    assert safe_cell(-3) == -3
    assert safe_cell("plain") == "plain"
    assert safe_cell(None) is None


def test_write_csv_is_formula_safe_and_keeps_negative_numbers():
    frame = pd.DataFrame({"name": ["=HYPERLINK(\"http://x\")", "Ann"], "points": [-5, 10],
                          "note": ["-minus", None]})
    text = write_csv(frame).decode()
    back = pd.read_csv(io.StringIO(text))
    assert back["name"].tolist() == ["'=HYPERLINK(\"http://x\")", "Ann"]
    assert back["points"].tolist() == [-5, 10]
    assert back["note"].iloc[0] == "'-minus"
    buffer = io.StringIO()
    write_csv(frame, buffer)
    assert buffer.getvalue() == text
    assert safe_frame(pd.DataFrame({"=x": [1]})).columns[0] == "'=x"


def test_personal_columns_removed_for_exec():
    frame = pd.DataFrame({"customer_id": ["C1"], "name": ["A"], "email": ["a@x"], "phone": ["1"],
                          "comment": ["hi"], "nps_score": [9]})
    assert list(personal_filter(frame, {Role.EXEC}).columns) == ["customer_id", "nps_score"]
    assert list(personal_filter(frame, {Role.ADMIN}).columns) == list(frame.columns)
