"""The fast read (pyarrow.csv) of well-formed files gives exactly the cells Python's own csv
module reads, and arrow's date and number casts give the values the standard library gives."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pandas as pd
import pytest

from core.importing import check_cells, match_columns, parse_datetimes, read_csv_bytes

FILES = {
    "commas, quotes, spaces, an empty row": (
        'customer_id,name,email\n'
        'C1,"Lovelace, Ada",ada@example.com\n'
        ',,\n'
        'C2,"Zoë ""Z"" Ng",  \n'
        'C3,  Bob  ,bob@example.com\n'),
    "semicolons, BOM, CRLF": (
        '\ufeffcustomer_id;name;email\r\nC1;Ann;a@example.com\r\nC2;"Bo; b";\r\n'),
    "tabs, sep= hint": ('sep=\t\ncustomer_id\tname\nC1\tAnn\nC2\t\n'),
}


def by_stdlib(text: str) -> pd.DataFrame:
    """The expected frame: csv.reader's cells, stripped, all-empty rows dropped but counted."""
    text = text.lstrip("\ufeff")
    first = text.split("\n", 1)[0].rstrip("\r")
    if first.startswith("sep="):
        delimiter, text = first[4:], text.split("\n", 1)[1]
    else:
        delimiter = max(",;\t|", key=first.count)
    rows = [[c.strip() for c in r] for r in csv.reader(io.StringIO(text), delimiter=delimiter)]
    header, body = rows[0], rows[1:]
    keep = [i for i, r in enumerate(body) if any(r)]
    return pd.DataFrame([body[i] for i in keep], columns=header, index=keep, dtype=object)


@pytest.mark.parametrize("name", list(FILES))
def test_fast_read_gives_the_cells_the_csv_module_reads(name):
    text = FILES[name]
    parsed = read_csv_bytes(text.encode(), filename="f.csv")
    expected = by_stdlib(text)
    assert parsed.columns == list(expected.columns)
    assert parsed.frame.index.tolist() == expected.index.tolist()
    assert parsed.frame.astype(object).values.tolist() == expected.values.tolist()


def test_a_wide_file_with_a_line_break_in_a_quoted_cell_is_read_whole():
    text = 'response_id,submitted_at,comment\nR1,2025-03-01,"two\nlines"\nR2,2025-03-02,fine\n'
    parsed = read_csv_bytes(text.encode(), filename="f.csv")
    assert parsed.frame["comment"].tolist() == ["two\nlines", "fine"]


def test_arrow_dates_equal_the_standard_librarys():
    cells = ["2025-03-01", "2025-03-01T14:30:00", "2025-03-01 14:30", "2025-03-01T14:30:00.250000", ""]
    got = parse_datetimes(pd.Series(cells))
    want = [datetime.fromisoformat(c) if c else None for c in cells]
    assert [None if pd.isna(v) else v.to_pydatetime() for v in got] == want
    with_offsets = ["2025-03-01T14:30:00+02:00", "2025-03-01T23:30:00-05:00", "2025-03-01T10:00:00Z"]
    got = parse_datetimes(pd.Series(with_offsets))
    want = [datetime.fromisoformat(c).astimezone(UTC).replace(tzinfo=None) for c in with_offsets]
    assert [v.to_pydatetime() for v in got] == want


def test_arrow_numbers_and_a_bad_one_named_in_a_wide_file():
    rows = "\n".join(f"C{i},2025-01-0{i % 9 + 1},{i}.25" for i in range(1, 30))
    good = read_csv_bytes(f"customer_id,ordered_at,total\n{rows}\n".encode(), filename="o.csv")
    typed, problems = check_cells(good, "orders", match_columns(good.columns, "orders"))
    assert not problems
    assert typed["total"].tolist() == [i * 100 + 25 for i in range(1, 30)]  # money typed as whole cents
    bad = read_csv_bytes(f"customer_id,ordered_at,total\n{rows}\nC99,2025-01-02,12.5O\n".encode(),
                         filename="o.csv")
    _typed, problems = check_cells(bad, "orders", match_columns(bad.columns, "orders"))
    assert [(p.row, p.column, p.value) for p in problems] == [(31, "total", "12.5O")]
