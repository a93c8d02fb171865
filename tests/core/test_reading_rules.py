"""A file is read into exactly the records it holds, or refused (issue 14, kind 4); no database.

Expected rows are counted by hand from the literal files below (the header is row 1).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.importing import ImportFailed, check_cells, match_columns, read_csv_bytes

CASES = Path(__file__).resolve().parents[1] / "data" / "cases"


def _problems(text: str, kind: str):
    parsed = read_csv_bytes(text.encode(), filename=f"{kind}.csv")
    return check_cells(parsed, kind, match_columns(parsed.columns, kind))[1]


def _refusal(text: str) -> ImportFailed:
    with pytest.raises(ImportFailed) as err:
        read_csv_bytes(text.encode(), filename="f.csv")
    return err.value


# ---------------------------------------------------------------- sep= hint and delimiters


def test_excel_sep_hint_case_reads_like_the_file_without_it():
    data = (CASES / "excel-sep-hint" / "customers_sep_hint.csv").read_bytes()
    parsed = read_csv_bytes(data, filename="c.csv")
    plain = read_csv_bytes(data.split(b"\n", 1)[1], filename="c.csv")
    assert parsed.sep_hint and parsed.delimiter == ";"
    assert parsed.columns == ["customer_id", "name", "email", "signup_date", "email_opt_in"]
    assert parsed.frame["customer_id"].tolist() == ["C3001", "C3002"]
    assert parsed.frame.equals(plain.frame)
    # Excel hides the hint line, so the header is still row 1 and C3002 is row 3.
    assert (parsed.frame.index + 2).tolist() == [2, 3]


@pytest.mark.parametrize("hint, sep", [('"sep=,"', ","), ("SEP=|", "|"), ("sep=\t", "\t"), ("sep=;;;", ";")])
def test_sep_hint_variants(hint, sep):
    body = sep.join(["customer_id", "name"]) + "\n" + sep.join(["C1", "Ann Lee"]) + "\n"
    parsed = read_csv_bytes((hint + "\r\n" + body).encode(), filename="c.csv")
    assert parsed.delimiter == sep
    assert parsed.frame.iloc[0].tolist() == ["C1", "Ann Lee"]


def test_a_sep_hint_that_contradicts_the_header_is_refused_saying_so():
    # sep=, on a file whose header is separated by semicolons: every column would be one.
    err = _refusal("sep=,\ncustomer_id;name;email\nC1;Ann;a@example.org\n")
    text = str(err)
    assert "first line 'sep=,' says the columns are separated by commas" in text
    assert "'customer_id;name;email' is separated by semicolons" in text
    assert "correct the sep= line or delete it" in text


def test_tab_and_bar_separated_files_are_recognised():
    assert read_csv_bytes(b"customer_id\tname\nC1\tAnn, Lee\n").frame["name"].tolist() == ["Ann, Lee"]
    assert read_csv_bytes(b"customer_id|name\nC1|Ann; Lee\n").frame["name"].tolist() == ["Ann; Lee"]


def test_a_row_with_another_separator_is_refused_not_padded():
    # The header uses semicolons, row 3 uses commas: it would read as one cell plus empties.
    err = _refusal("customer_id;name;email\nC1;Ann;a@example.org\nC2,Bo,b@example.org\n")
    assert [(p.row, p.column) for p in err.problems] == [(3, None)]
    assert "has 1 cell, the header has 3" in str(err) and "semicolons" in str(err)


def test_short_rows_are_each_named():
    err = _refusal("a,b,c\n1,2,3\n4,5\n\n6,7,8\n9\n")
    assert [p.row for p in err.problems] == [3, 6]
    assert err.total == 2


# ---------------------------------------------------------------- quotes and line counts


def test_stray_quote_case_is_refused_naming_row_4():
    data = (CASES / "stray-quote-in-comment" / "feedback.csv").read_bytes()
    with pytest.raises(ImportFailed) as err:
        read_csv_bytes(data, filename="feedback.csv")
    (problem,) = err.value.problems
    assert (problem.row, problem.column, problem.value) == (4, "comment", "Arrived late again")
    assert "opens a quote" in problem.message and "not closed" in problem.message
    assert "next 2 lines" in problem.message
    assert "nothing was imported" in str(err.value)


def test_quote_never_closed_to_the_end_of_the_file_names_its_row():
    err = _refusal('id,comment\nR1,fine\nR2,"broken\nR3,also fine\n')
    (problem,) = err.problems
    # The cell read on its own runs to the end of its line: 'broken'.
    assert (problem.row, problem.column, problem.value) == (3, "comment", "broken")
    assert "row 3, column comment: 'broken' opens a quote" in str(err)


def test_legitimate_multi_line_cells_are_kept_whole():
    text = ('response_id,channel,comment\nR1,web,"first line\nsecond line, with a comma"\n'
            'R2,web,"a ""quoted"" word"\nR3,web,ok\n')
    parsed = read_csv_bytes(text.encode())
    assert parsed.frame["response_id"].tolist() == ["R1", "R2", "R3"]
    assert parsed.frame["comment"].tolist() == ["first line\nsecond line, with a comma", 'a "quoted" word', "ok"]
    # Spreadsheet rows: R1 spans two lines of the file but is one row (2); R2 is row 3.
    assert (parsed.frame.index + 2).tolist() == [2, 3, 4]


def test_inch_mark_inside_an_unquoted_cell_is_literal():
    parsed = read_csv_bytes(b'id,comment\nR5,Love the 12" pan\nR6,ok\n')
    assert parsed.frame["comment"].tolist() == ['Love the 12" pan', "ok"]


# ---------------------------------------------------------------- dates and ids


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31", "1900-01-01", "1899-12-30", "1970-01-01",
                                   "19000101"])
def test_placeholder_dates_are_refused_by_row_and_column(value):
    problems = _problems(f"customer_id,signup_date\nC1,2024-06-01\nC2,{value}\n", "customers")
    assert [(p.row, p.column, p.value) for p in problems] == [(3, "signup_date", value)]
    assert "placeholder" in problems[0].message


def test_future_order_dates_are_refused_but_expiry_dates_may_be_future():
    orders = _problems("customer_id,ordered_at,total\nC1,2031-01-01,5\nC2,2025-01-01,5\n", "orders")
    assert [(p.row, p.column) for p in orders] == [(2, "ordered_at")]
    loyalty = _problems("customer_id,occurred_at,kind,points,expires_at\nC1,2025-01-01,earn,10,2031-01-01\n",
                        "loyalty")
    assert list(loyalty) == []


@pytest.mark.parametrize("column, value", [("customer_id", "6.52E+12"), ("order_id", "1.2e+05"),
                                           ("order_id", "100234.0")])
def test_ids_a_spreadsheet_turned_into_numbers_are_refused(column, value):
    other = "order_id" if column == "customer_id" else "customer_id"
    text = f"{column},{other},ordered_at,total\nA1,B1,2025-01-01,5\n{value},B2,2025-01-01,5\n"
    problems = _problems(text, "orders")
    assert [(p.row, p.column, p.value) for p in problems] == [(3, column, value)]
    assert "spreadsheet turned into a number" in problems[0].message


def test_plain_numeric_ids_are_fine():
    assert list(_problems("customer_id,ordered_at,total\n00123,2025-01-01,5\n6520000000000,2025-01-01,5\n",
                          "orders")) == []


# ---------------------------------------------------------------- repeated rows without ids


def test_the_same_order_twice_without_an_id_is_refused():
    text = ("customer_id,ordered_at,total,sku,quantity,unit_price\n"
            "C1,2025-01-05T10:00:00,17.00,DET-1L,2,8.50\n"
            "C2,2025-01-06T10:00:00,5.00,SOAP,1,5.00\n"
            "C1,2025-01-05T10:00:00,17.00,DET-1L,2,8.50\n")
    problems = _problems(text, "orders")
    assert [(p.row, p.column) for p in problems] == [(4, "order_id")]
    assert "repeats row 2 exactly" in problems[0].message


def test_identical_feedback_rows_without_ids_are_refused_but_with_ids_they_are_not():
    same = "C1,2025-03-01,9,great\n"
    assert [p.row for p in _problems("customer_id,submitted_at,nps_score,comment\n" + same * 3,
                                     "feedback")] == [3, 4]
    with_ids = "response_id,customer_id,submitted_at,nps_score,comment\nR1," + same + "R2," + same
    assert list(_problems(with_ids, "feedback")) == []


def test_a_line_of_spaces_is_blank_not_a_short_row():
    parsed = read_csv_bytes(b"a,b,c\n1,2,3\n   \n4,5,6\n")
    assert parsed.frame["a"].tolist() == ["1", "4"]
    assert (parsed.frame.index + 2).tolist() == [2, 4]


def test_a_one_column_header_over_separated_rows_is_refused():
    err = _refusal("customer_id\nC1;Ann\nC2;Bo\n")
    assert "the header row has one column but the rows below are separated by semicolons" in str(err)
    # A real one-column file is fine.
    assert read_csv_bytes(b"customer_id\nC1\nC2\n").frame["customer_id"].tolist() == ["C1", "C2"]


def test_a_closed_multi_line_comment_whose_line_holds_a_rows_commas_is_read():
    # Its second line has five commas, as many as a row, but is not shaped like one (R4,C4,<date>,
    # web,9,...): three records (it was refused as a stray quote).
    text = ("response_id,customer_id,submitted_at,channel,nps_score,comment\n"
            "R1,C1,2025-03-01T09:00:00Z,web,9,Works well\n"
            'R2,C2,2025-03-02T09:00:00Z,web,2,"Problems:\nlate, broken, dirty, wet, smelly, and rude driver"\n'
            "R3,C3,2025-03-03T09:00:00Z,web,8,Fine\n")
    frame = read_csv_bytes(text.encode(), filename="f.csv").frame
    assert frame["response_id"].tolist() == ["R1", "R2", "R3"]
    assert frame["comment"].iloc[1] == "Problems:\nlate, broken, dirty, wet, smelly, and rude driver"


def test_a_quote_open_on_the_last_line_is_refused():
    err = _refusal('id,comment\nR1,fine\nR2,"Broken on arrival\n')
    (problem,) = err.problems
    assert (problem.row, problem.column, problem.value) == (3, "comment", "Broken on arrival")
    assert "the file ends inside this cell" in problem.message


def test_a_quote_never_closed_after_a_multi_line_cell_names_the_spreadsheet_row_and_its_cell():
    # Row 2's cell spans two lines, so row 3 starts on the file's fourth line.
    err = _refusal('id,comment\nR1,"multi\nline"\nR2,"open at the end\nstill open\n')
    (problem,) = err.problems
    assert (problem.row, problem.column, problem.value) == (3, "comment", "open at the end")


def test_text_after_a_closing_quote_is_refused_not_read_without_the_quotes():
    # Both readers took '"Sturdy" my foot' as 'Sturdy my foot': the file said something else.
    err = _refusal('id,comment,score\nR1,fine,3\nR2,"Sturdy" my foot,4\n')
    (problem,) = err.problems
    assert (problem.row, problem.column, problem.value) == (3, "comment", '"Sturdy" my foot')
    assert "has text after its closing quote" in problem.message
    # Quoted as a whole, with its quotes doubled, it is read as written.
    frame = read_csv_bytes(b'id,comment,score\nR1,fine,3\nR2,"""Sturdy"" my foot",4\n', filename="f.csv").frame
    assert frame["comment"].tolist() == ["fine", '"Sturdy" my foot']


# ---------------------------------------------------------------- column names


def test_columns_excel_left_without_a_name_or_a_value_are_read_as_not_there():
    # Excel's trailing ';;' on every line (cells once formatted): two customers, five columns.
    text = ("customer_id;name;email;signup_date;email_opt_in;;\r\n"
            "C1;Ines Roth;ines@example.org;2024-06-01;yes;;\r\n"
            "C2;Luc Faure;luc@example.org;2024-06-03;no;;\r\n")
    parsed = read_csv_bytes(text.encode(), filename="c.csv")
    assert parsed.columns == ["customer_id", "name", "email", "signup_date", "email_opt_in"]
    assert parsed.frame["name"].tolist() == ["Ines Roth", "Luc Faure"]


def test_a_column_without_a_name_that_holds_values_or_a_name_used_twice_is_named_by_its_letter():
    err = _refusal("customer_id,,email,name,email\nC1,x,a@example.org,Ann,b@example.org\nC2,,,Bo,\n")
    assert str(err) == (
        "f.csv: column B has no name in the header row but holds values (row 2: 'x'): name it or delete the "
        "column; the column name 'email' is used twice (columns C and E): rename or delete one; nothing was "
        "imported")


def test_a_quote_left_open_until_a_later_rows_quote_is_named_not_blamed_on_a_separator():
    # R2's comment opens a quote that its line never closes; R3's quoted comment closes it, and
    # what follows made a row of 7 cells. The cause is row 3's quote.
    err = _refusal("response_id,customer_id,submitted_at,channel,nps_score,comment\n"
                   "R1,C1,2026-10-01T09:00:00Z,web,9,Works well\n"
                   "R2,C2,2026-10-02T09:00:00Z,web,3,\"Arrived late again\n"
                   "R3,C3,2026-10-03T09:00:00Z,web,9,\"Great value, thanks\"\n"
                   "R4,C4,2026-10-04T09:00:00Z,web,10,Fast delivery\n")
    assert [(p.row, p.column, p.value) for p in err.problems] == [(3, "comment", "Arrived late again")]
    assert err.problems[0].message.startswith('opens a quote (") that is not closed on its line')


def test_two_columns_whose_names_read_as_one_field_are_ambiguous_until_one_is_chosen():
    # "customer_id" and "Customer ID" both read as customer_id: which holds it is the person's to
    # say (the first one used to win and the other was dropped without a word).
    columns = ["ticket_id", "customer_id", "opened_at", "Customer ID"]
    assert match_columns(columns, "tickets").ambiguous == {"customer_id": ["customer_id", "Customer ID"]}
    assert match_columns(columns, "tickets", {"Customer ID": None}).ambiguous == {}
    chosen = match_columns(columns, "tickets", {"Customer ID": "customer_id"})
    assert (chosen.ambiguous, chosen.mapping["Customer ID"]) == ({}, "customer_id")
