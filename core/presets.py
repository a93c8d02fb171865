"""Presets: the export layouts of the platforms shops really use, read into Hearth's formats.

A preset turns the file's cells (text, as `core.importing.read_csv_bytes` reads them) into
the columns of one import kind, row for row: the frame keeps its index, so every problem
still names the row a spreadsheet shows, and ``source_of`` names the file's own column.
Everything is vectorised pandas; no per-row Python.

Presets (sample files in examples/, column names from the platforms' public documentation):

- ``shopify_orders``: Shopify's orders export. One row per line item; the order's own fields
  (Email, Created at, Total, Financial Status, Discount Code, Refunded Amount, Cancelled at)
  only on its first row, so they are carried down to the order's other rows. "Created at"
  carries a time-zone offset ("2025-03-01 10:15:22 +0100"), converted to UTC.
- ``shopify_customers``: Shopify's customers export (Customer ID, First Name, Last Name,
  Email, Accepts Email Marketing, Phone, Accepts SMS Marketing, ...).
- ``woocommerce_orders``: WooCommerce Customer/Order/Coupon Export, "one row per line item".
- ``smile_points``: a Smile.io-style points activity export (one row per points change).
- ``delighted_nps`` / ``typeform_nps``: NPS survey exports (score 0-10, comment, time).

Customers are keyed by email address in the platforms' order, points and NPS exports (the
Shopify orders export has no customer id); `core.importing` maps an email address to the
customer already stored with that address.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core import money
from core.importing import ImportFailed, ParsedFile, Problem, normalise_name
from core.importing.checks import check_currency, decimal_commas


@dataclass(frozen=True)
class Preset:
    """One platform's export layout for one import kind."""

    name: str
    kind: str
    title: str
    signature: tuple[str, ...]  # columns (normalised) whose presence identifies the layout
    transform: Callable[[pd.DataFrame, dict[str, str]], tuple[pd.DataFrame, dict[str, str]]]
    key_by_email: bool = False  # customer_id holds an email address to match to stored customers


# A column a preset may add: per row, why the row is left out of the import ("" to keep it);
# core.importing drops those rows and the summary names them, their rows and the reason.
LEAVE_OUT = "_leave_out"


def _col(frame: pd.DataFrame, cols: dict[str, str], *names: str, required: bool = True) -> pd.Series:
    """The file's column under any of ``names`` (compared normalised), as stripped text."""
    for name in names:
        real = cols.get(normalise_name(name))
        if real is not None:
            return frame[real].astype(str)
    if required:
        raise KeyError(names[0])
    return pd.Series("", index=frame.index, dtype=object)


def _first_filled(frame: pd.DataFrame, cols: dict[str, str], *names: str) -> pd.Series:
    """Per row, the first non-empty cell among the file's columns ``names`` (a guest's phone may be
    in Billing Phone with Phone empty), "" where none has one."""
    out = pd.Series("", index=frame.index, dtype=object)
    for name in names:
        real = cols.get(normalise_name(name))
        if real is not None:
            values = frame[real].astype(str).str.strip()
            out = out.where(out != "", values)
    return out


def _source(cols: dict[str, str], *names: str) -> str:
    for name in names:
        if normalise_name(name) in cols:
            return cols[normalise_name(name)]
    return names[0]


def _carry_down(values: pd.Series, group: pd.Series) -> pd.Series:
    """Empty cells take the first non-empty value of their group (an order's later line rows)."""
    filled = values.where(values != "").groupby(group.to_numpy()).transform("first")
    return filled.fillna("").astype(str)


def _iso_with_offset(values: pd.Series) -> pd.Series:
    """'2025-03-01 10:15:22 +0100' -> '2025-03-01T10:15:22+01:00' (ISO 8601, offset kept)."""
    return values.str.replace(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2})?)\s*([+-]\d{2}):?(\d{2})$",
                              r"\1T\2\3:\4", regex=True)


def _email_or(primary: pd.Series, fallback: pd.Series) -> pd.Series:
    email = primary.str.strip().str.lower()
    return email.where(email != "", fallback.str.strip())


def _map_status(values: pd.Series, table: dict[str, str]) -> pd.Series:
    low = values.str.strip().str.lower().str.replace(r"^wc-", "", regex=True)
    mapped = low.map(table)
    # An unknown status stays as written, so the check names it instead of guessing.
    return mapped.where(mapped.notna(), low).fillna("").astype(str)


# ---------------------------------------------------------------- Shopify

_SHOPIFY_FINANCIAL = {"paid": "paid", "partially_paid": "paid", "authorized": "pending", "pending": "pending",
                      "refunded": "refunded", "partially_refunded": "partially_refunded", "voided": "cancelled",
                      "expired": "cancelled"}


def _shopify_orders(frame: pd.DataFrame, cols: dict[str, str]) -> tuple[pd.DataFrame, dict[str, str]]:
    name = _col(frame, cols, "Name")
    down = {field: _carry_down(_col(frame, cols, *names, required=req), name)
            for field, names, req in (
                ("email", ("Email",), True),
                ("created", ("Created at",), True), ("total", ("Total",), True),
                ("financial", ("Financial Status",), False), ("discount", ("Discount Code",), False),
                ("refunded", ("Refunded Amount",), False), ("cancelled", ("Cancelled at",), False))}
    down["phone"] = _carry_down(_first_filled(frame, cols, "Phone", "Billing Phone", "Shipping Phone"), name)
    status = _map_status(down["financial"], _SHOPIFY_FINANCIAL)
    status = status.where(down["cancelled"] == "", "cancelled")
    sku = _col(frame, cols, "Lineitem sku")
    sku = sku.where(sku != "", _col(frame, cols, "Lineitem name", required=False))
    out = pd.DataFrame({
        "order_id": name, "customer_id": _email_or(down["email"], down["phone"]),
        "ordered_at": _iso_with_offset(down["created"]), "total": down["total"], "sku": sku,
        "quantity": _col(frame, cols, "Lineitem quantity"), "unit_price": _col(frame, cols, "Lineitem price"),
        "offer_code": down["discount"], "status": status, "refunded_amount": down["refunded"],
    }, index=frame.index)
    source = {"order_id": "Name", "customer_id": "Email", "ordered_at": "Created at", "total": "Total",
              "sku": "Lineitem sku", "quantity": "Lineitem quantity", "unit_price": "Lineitem price",
              "offer_code": "Discount Code", "status": "Financial Status / Cancelled at",
              "refunded_amount": "Refunded Amount"}
    return out, source


def _shopify_customers(frame: pd.DataFrame, cols: dict[str, str]) -> tuple[pd.DataFrame, dict[str, str]]:
    email = _col(frame, cols, "Email").str.strip()
    given = _col(frame, cols, "Customer ID", required=False)
    name = (_col(frame, cols, "First Name", required=False) + " "
            + _col(frame, cols, "Last Name", required=False)).str.strip()
    phone = _col(frame, cols, "Phone", required=False)
    phone = phone.where(phone != "", _col(frame, cols, "Default Address Phone", required=False))
    region = _col(frame, cols, "Default Address Province Code", "Province Code", "Province", required=False)
    out = pd.DataFrame({
        "customer_id": given.where(given != "", email.str.lower()), "name": name, "email": email,
        "phone": phone, "region": region,
        "email_opt_in": _col(frame, cols, "Accepts Email Marketing", "Accepts Marketing"),
        "sms_opt_in": _col(frame, cols, "Accepts SMS Marketing", required=False),
    }, index=frame.index)
    source = {"customer_id": _source(cols, "Customer ID", "Email"), "name": "First Name / Last Name",
              "email": "Email", "phone": "Phone", "region": _source(cols, "Default Address Province Code"),
              "email_opt_in": _source(cols, "Accepts Email Marketing", "Accepts Marketing"),
              "sms_opt_in": "Accepts SMS Marketing"}
    return out, source


# ---------------------------------------------------------------- WooCommerce

# WooCommerce's "Pending payment" is a checkout not paid for (most are never paid): its own
# reports leave it out, and it is no order until a later export says processing or completed.
_WOO_STATUS = {"completed": "paid", "processing": "paid", "on-hold": "pending", "pending": "unpaid",
               "cancelled": "cancelled", "failed": "cancelled", "refunded": "refunded"}


def _unit_prices(item_totals: pd.Series, quantities: pd.Series) -> pd.Series:
    """A line's unit price as text, "" where unknown: item total / quantity in whole cents,
    rounded to the cent by core.money's one rule (10.00 / 3 -> "3.33", 0.05 / 2 -> "0.03")."""
    def one(total: str, qty: str) -> str:
        try:
            n = float(qty)
            if not n > 0 or n != int(n):
                return ""
            return money.format(money.divide(money.from_text(total), int(n)))
        except ValueError:
            return ""
    # A decimal comma ("17,00", Excel's CSV where a comma is the decimal mark) is read as the
    # order's total is (core.importing.checks); it gave no price and the line was stored at 0.
    totals = decimal_commas(item_totals.astype(str))
    return pd.Series([one(t, q) for t, q in zip(totals, quantities.astype(str), strict=True)],
                     index=item_totals.index, dtype=object)


def _woocommerce_orders(frame: pd.DataFrame, cols: dict[str, str]) -> tuple[pd.DataFrame, dict[str, str]]:
    order = _col(frame, cols, "order_id", "order_number")
    refunded = _col(frame, cols, "refunded_total", "order_refund", required=False)
    status = _map_status(_col(frame, cols, "status"), _WOO_STATUS)
    amount = pd.to_numeric(refunded.where(refunded != ""), errors="coerce").fillna(0.0)
    status = status.where(~((status == "paid") & (amount > 0)), "partially_refunded")
    customer = _col(frame, cols, "customer_id", "customer_user", required=False)
    email = _col(frame, cols, "billing_email", "customer_email")
    quantity = _col(frame, cols, "item_quantity")
    unit = _unit_prices(_col(frame, cols, "item_total"), quantity)
    out = pd.DataFrame({
        "order_id": order,
        # A guest's customer_id is 0: such orders are keyed by the billing email.
        "customer_id": _email_or(email, customer.where(~customer.isin(["", "0"]), "")),
        "ordered_at": _col(frame, cols, "order_date").str.replace(" ", "T", n=1, regex=False),
        "total": _col(frame, cols, "order_total"), "sku": _col(frame, cols, "item_sku", "item_name"),
        "quantity": quantity, "unit_price": unit,
        "offer_code": _col(frame, cols, "coupon_items", "coupon_code", required=False)
        .str.extract(r"(?:code:)?([^|;]+)", expand=False).fillna("").str.strip(),
        "status": status, "refunded_amount": refunded,
    }, index=frame.index)
    source = {"order_id": "order_id", "customer_id": "billing_email", "ordered_at": "order_date",
              "total": "order_total", "sku": "item_sku", "quantity": "item_quantity",
              "unit_price": "item_total / item_quantity", "offer_code": "coupon_items", "status": "status",
              "refunded_amount": "refunded_total"}
    return out, source


# ---------------------------------------------------------------- Smile.io-style points


def _smile_kinds(activity: pd.Series, description: pd.Series, value: pd.Series) -> np.ndarray:
    """The ledger kind of each points activity: read from the activity type ("Points expired",
    "Points redeemed", "Points refunded"), and from the description only where the type names
    none. Points going out for a redemption or a reward are a redemption; points coming back
    (a cancelled reward, a refunded redemption) and refunds, cancellations and manual changes
    are adjustments; an expiry is an expiry whatever else the words say ("Unredeemed points
    expired after 6 months of inactivity" is no redemption)."""
    def read(text: pd.Series) -> np.ndarray:
        return np.select(
            [text.str.contains(r"\bexpir", regex=True),
             text.str.contains(r"\b(?:refund|cancel|revers|return|adjust|manual|import)", regex=True),
             text.str.contains(r"\bredeem|\bredemption|\breward", regex=True) & (value < 0),
             text.str.contains(r"\bredeem|\bredemption", regex=True) & (value >= 0)],
            ["expire", "adjust", "redeem", "adjust"], default="")

    kind = read(activity)
    kind = np.where(kind == "", read(description), kind)
    # Nothing named: points out are an adjustment, points in were earned ("Referral reward, 200").
    return np.where(kind == "", np.where(value < 0, "adjust", "earn"), kind)


def _smile_points(frame: pd.DataFrame, cols: dict[str, str]) -> tuple[pd.DataFrame, dict[str, str]]:
    points = _col(frame, cols, "Points change", "Points")
    value = pd.to_numeric(points.where(points != ""), errors="coerce")
    kind = _smile_kinds(_col(frame, cols, "Activity type", "Type", required=False).str.lower(),
                        _col(frame, cols, "Description", "Reason", required=False).str.lower(), value)
    out = pd.DataFrame({
        "entry_id": _col(frame, cols, "Activity ID", "Points transaction ID", "ID", required=False),
        "customer_id": _col(frame, cols, "Customer email", "Email").str.strip().str.lower(),
        "occurred_at": _iso_with_offset(_col(frame, cols, "Date", "Created at")),
        "kind": pd.Series(kind, index=frame.index), "points": points,
        "order_id": _col(frame, cols, "Order ID", "Order", required=False),
    }, index=frame.index)
    source = {"entry_id": "Activity ID", "customer_id": "Customer email", "occurred_at": "Date",
              "kind": "Activity type / Description", "points": "Points change", "order_id": "Order ID"}
    return out, source


# ---------------------------------------------------------------- NPS survey exports


def _unix_or_text(values: pd.Series) -> pd.Series:
    """Unix seconds (Delighted's API times) become ISO 8601 UTC; anything else is left as written."""
    unix = values.str.fullmatch(r"\d{9,10}")
    if not unix.any():
        return _iso_with_offset(values)
    as_iso = pd.to_datetime(pd.to_numeric(values.where(unix)), unit="s", errors="coerce") \
        .dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return as_iso.where(unix, _iso_with_offset(values)).fillna("").astype(str)


def _first_header(cols: dict[str, str], *needles: str) -> str | None:
    for norm, real in cols.items():
        if all(n in norm for n in needles):
            return real
    return None


# Survey types other than NPS (Delighted's): their scores are on other scales. Any other value of
# the column (email, web, sms, link) says how the survey went out: the channel.
_OTHER_SURVEYS = frozenset({"csat", "ces", "ces7", "5star", "5-star", "five_star", "smileys", "smiley", "thumbs",
                            "enps", "pmf", "star"})
_DATE_HEADERS = ("Response Timestamp", "Created At", "Submitted At", "Submit Date (UTC)", "Date")


def _nps(frame: pd.DataFrame, cols: dict[str, str]) -> tuple[pd.DataFrame, dict[str, str]]:
    score_col = cols.get("score") or _first_header(cols, "recommend")
    if score_col is None:
        raise KeyError("Score (or a question with 'recommend' in it)")
    comment_col = (cols.get("comment") or _first_header(cols, "why") or _first_header(cols, "comment")
                   or _first_header(cols, "reason"))
    if comment_col is None:
        # Typeform names a column by its question ("What could we do better?"): the first other
        # question is the comment (it was dropped without a word).
        comment_col = next((real for real in cols.values() if real != score_col and real.strip().endswith("?")),
                           None)
    survey = _col(frame, cols, "Survey type", "survey_type", required=False).str.strip().str.lower()
    out = pd.DataFrame({
        "response_id": _col(frame, cols, "Response ID", "Token", "#", "ID", required=False),
        "customer_id": _col(frame, cols, "Email", "Person email", "email", required=False).str.strip().str.lower(),
        "submitted_at": _unix_or_text(_col(frame, cols, *_DATE_HEADERS)),
        "nps_score": frame[score_col].astype(str),
        "comment": frame[comment_col].astype(str) if comment_col else pd.Series("", index=frame.index),
        "channel": _col(frame, cols, "Channel", required=False).where(
            lambda c: c.str.strip() != "", survey.where(~survey.isin(sorted(_OTHER_SURVEYS | {"nps"})), "")),
        # Delighted runs CSAT (1 to 5), CES, 5-star and thumbs surveys too, in the same layout:
        # their scores are not NPS (a CSAT 5, "very satisfied", counted as a detractor).
        LEAVE_OUT: np.where(~survey.isin(sorted(_OTHER_SURVEYS)), "",
                            "answers of a " + survey.str.upper() + " survey (Survey type), whose scores are "
                            "on another scale than NPS's 0 to 10"),
    }, index=frame.index)
    source = {"response_id": _source(cols, "Response ID", "Token", "#", "ID"),
              "customer_id": _source(cols, "Email", "Person email", "email"),
              "submitted_at": _source(cols, *_DATE_HEADERS),
              "nps_score": score_col, "comment": comment_col or "comment", "channel": _source(cols, "Channel")}
    return out, source


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("shopify_orders", "orders", "Shopify orders export",
           ("name", "email", "financialstatus", "lineitemquantity", "createdat"), _shopify_orders,
           key_by_email=True),
    Preset("shopify_customers", "customers", "Shopify customers export",
           ("firstname", "lastname", "email", "acceptsemailmarketing"), _shopify_customers),
    Preset("woocommerce_orders", "orders", "WooCommerce orders export (one row per line item)",
           ("orderid", "orderdate", "status", "ordertotal", "itemquantity"), _woocommerce_orders,
           key_by_email=True),
    Preset("smile_points", "loyalty", "Smile.io-style points activity export",
           ("customeremail", "pointschange"), _smile_points, key_by_email=True),
    Preset("delighted_nps", "feedback", "Delighted NPS export", ("responseid", "score", "comment"), _nps,
           key_by_email=True),
    Preset("typeform_nps", "feedback", "Typeform NPS export", ("submitdate(utc)", "token"), _nps, key_by_email=True),
)}


def presets_for(kind: str) -> list[str]:
    """Names of the presets of one import kind."""
    return [p.name for p in PRESETS.values() if p.kind == kind]


def detect_preset(columns: list[str], kind: str) -> str | None:
    """The preset whose signature columns the header has (older Shopify customer exports say
    "Accepts Marketing"), or None when the header does not make it clear."""
    have = {normalise_name(c) for c in columns}
    if "acceptsmarketing" in have:
        have.add("acceptsemailmarketing")
    hits = [p.name for p in PRESETS.values() if p.kind == kind and set(p.signature) <= have]
    return hits[0] if len(hits) == 1 else None


def apply_preset(parsed: ParsedFile, name: str, kind: str) -> tuple[ParsedFile, dict[str, str]]:
    """The file in the kind's own columns (same rows, same row numbers) and, per field, the
    file column it came from. Raises ImportFailed naming a column the layout needs and lacks."""
    preset = PRESETS.get(name)
    if preset is None:
        raise ValueError(f"unknown preset {name!r}; use one of {', '.join(PRESETS)}")
    if preset.kind != kind:
        raise ImportFailed(parsed.filename, [Problem(None, None, None, f"the preset {name} is for {preset.kind} "
                                                                       f"files, not {kind}")])
    cols = {normalise_name(c): c for c in parsed.columns}
    try:
        frame, source = preset.transform(parsed.frame, cols)
    except KeyError as exc:
        raise ImportFailed(parsed.filename, [Problem(None, str(exc.args[0]), None,
                                                     f"is a column a {preset.title} has, and this file lacks "
                                                     f"it (the file has: {', '.join(parsed.columns)})")]) from None
    frame = frame.fillna("").astype(str).apply(lambda s: s.str.strip())
    left_out: dict[str, list[int]] = {}
    if LEAVE_OUT in frame:
        reasons = frame.pop(LEAVE_OUT)
        for reason, rows in reasons[reasons != ""].groupby(reasons[reasons != ""], sort=False):
            left_out[str(reason)] = (rows.index + 2).tolist()
        frame = frame[reasons == ""]
    check_currency(parsed)
    return ParsedFile(filename=parsed.filename, frame=frame, delimiter=parsed.delimiter,
                      had_bom=parsed.had_bom, sep_hint=parsed.sep_hint, left_out=left_out), source
