"""The demo store: a deterministic, believable household-goods web shop (issue 2).

`generate_demo` builds every table as pandas frames from one seeded numpy Generator, with no
Python loop per order; `load_demo` writes them with `db.bulk.bulk_insert` and then lets the
feedback module score the comments.

The story the data tells, so the screens have something to find:

- A catalogue of ~60 products in six categories; consumables are reordered every 21 to 60
  days, tools and decor rarely.
- Six kinds of customer. Steady subscribers order at their own cadence until today;
  VIPs order often and buy more; slowly declining customers' gaps keep growing and their
  answers get worse; lapsed customers stop ordering for good at least 95 days before today;
  new customers signed up in the last four months; one-time buyers ordered once.
- Orders follow a renewal process in "effective time" whose clock runs faster in Q4, so
  every kind orders more around the holidays.
- One product-quality incident ~4 months back: a batch of Fresh Linen laundry liquid leaked.
  Orders of it in the incident window bring a spike of detractor answers about leaks,
  tickets and goodwill points, and its reorders dip for a few months afterwards.
- Refunds: about 3 % of orders are refunded (most in full, some in part) a few days to three
  weeks after they were placed, and a third of the leaking batch's orders in the incident
  window. A refund is not an order (core.kpis): revenue is net of it.
- Loyalty: 1 point per currency unit earned on each order, lots expire after
  HEARTH_POINTS_EXPIRY_MONTHS (the setting core.loyalty reads; 0: never),
  redemptions never exceed the balance at that moment and, as design.md says, consume the
  oldest unexpired points first; `expire` entries record every lapsed lot.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.config import get_settings
from db.bulk import bulk_insert
from db.models import Customer, Feedback, LoyaltyEntry, Order, OrderLine, Product, Refund, SupportTicket

log = logging.getLogger(__name__)

HISTORY_DAYS = 3 * 365
DAY_S = 86_400
POINTS_EXPIRY_MONTHS = 12  # the default of HEARTH_POINTS_EXPIRY_MONTHS, which the demo follows
NEVER_DEMO = "2200-01-01"  # a lot that never expires (HEARTH_POINTS_EXPIRY_MONTHS=0), for the simulation
INCIDENT_SKU = "LAU-101"
INCIDENT_ALTERNATIVES = ("LAU-102", "LAU-104")
INCIDENT_DAYS_AGO = 122
INCIDENT_WINDOW_DAYS = 28
OWNERS = ("manager", "alex", "jordan", "priya")
OWNER_SHARES = (0.34, 0.22, 0.22, 0.22)
REGIONS = ("north", "south", "east", "west", "central")
REGION_SHARES = (0.22, 0.24, 0.17, 0.17, 0.20)
CHANNELS = ("email", "app", "web")
CHANNEL_SHARES = (0.55, 0.25, 0.20)
TICKET_TOPICS = ("delivery", "billing", "product", "account")

_S = np.dtypes.StringDType()

# ----------------------------------------------------------------------------- catalogue
# sku, name, how customers call it, category, replenishment days, price, popularity, traits
# traits: l = liquid (can leak), s = scented, g = gadget (can break)
CATALOGUE: tuple[tuple[str, str, str, str, int | None, float, float, str], ...] = (
    ("LAU-101", "Fresh Linen Laundry Liquid 2L", "Fresh Linen laundry liquid", "laundry", 35, 11.99, 14,
     "ls"),
    ("LAU-102", "Sensitive Laundry Liquid 2L", "sensitive laundry liquid", "laundry", 35, 12.49, 6, "l"),
    ("LAU-103", "Lavender Laundry Liquid 1L", "lavender laundry liquid", "laundry", 28, 7.49, 4, "ls"),
    ("LAU-104", "Bio Laundry Pods 40", "laundry pods", "laundry", 42, 13.99, 7, ""),
    ("LAU-105", "Colour Care Laundry Pods 40", "colour care pods", "laundry", 42, 13.99, 4, ""),
    ("LAU-106", "Spring Meadow Fabric Conditioner 1.5L", "fabric conditioner", "laundry", 40, 5.99, 5, "ls"),
    ("LAU-107", "Unscented Fabric Conditioner 1.5L", "unscented conditioner", "laundry", 40, 5.99, 2, "l"),
    ("LAU-108", "Stain Remover Spray 500ml", "stain remover", "laundry", 60, 4.49, 3, "l"),
    ("LAU-109", "Bio Washing Powder 2kg", "washing powder", "laundry", 45, 9.99, 3, "s"),
    ("LAU-110", "Oxygen Whitener 1kg", "whitener", "laundry", 60, 6.49, 1.5, ""),
    ("LAU-111", "Wool and Delicates Wash 750ml", "delicates wash", "laundry", 60, 6.99, 1.5, "l"),
    ("LAU-112", "Washing Machine Cleaner 3-pack", "machine cleaner", "laundry", 60, 5.49, 1.5, ""),
    ("DSH-201", "All-in-One Dishwasher Tablets 50", "dishwasher tablets", "dish care", 40, 12.99, 8, ""),
    ("DSH-202", "Eco Dishwasher Tablets 30", "eco dishwasher tablets", "dish care", 30, 8.99, 4, ""),
    ("DSH-203", "Lemon Washing-up Liquid 900ml", "lemon washing-up liquid", "dish care", 30, 3.49, 7, "ls"),
    ("DSH-204", "Aloe Washing-up Liquid 900ml", "aloe washing-up liquid", "dish care", 30, 3.49, 3, "ls"),
    ("DSH-205", "Rinse Aid 500ml", "rinse aid", "dish care", 60, 3.99, 3, "l"),
    ("DSH-206", "Dishwasher Salt 2kg", "dishwasher salt", "dish care", 60, 3.29, 2, ""),
    ("DSH-207", "Dishwasher Cleaner 250ml", "dishwasher cleaner", "dish care", 60, 4.29, 1.5, "l"),
    ("DSH-208", "Washing-up Liquid Refill 5L", "washing-up refill", "dish care", 60, 12.99, 2, "l"),
    ("DSH-209", "Scrub Sponges 6-pack", "scrub sponges", "dish care", 30, 3.99, 4, ""),
    ("DSH-210", "Dish Brush Heads 3-pack", "brush heads", "dish care", 45, 5.49, 1.5, ""),
    ("SRF-301", "Citrus Multi-Surface Spray 750ml", "multi-surface spray", "surface cleaners", 30, 3.99, 7,
     "ls"),
    ("SRF-302", "Bathroom Cleaner 750ml", "bathroom spray", "surface cleaners", 35, 4.29, 5, "l"),
    ("SRF-303", "Kitchen Degreaser 750ml", "degreaser", "surface cleaners", 40, 4.49, 3, "l"),
    ("SRF-304", "Streak-free Glass Cleaner 500ml", "glass cleaner", "surface cleaners", 50, 3.79, 3, "l"),
    ("SRF-305", "Pine Floor Cleaner 1.5L", "floor cleaner", "surface cleaners", 45, 5.49, 3, "ls"),
    ("SRF-306", "Antibacterial Wipes 80", "antibacterial wipes", "surface cleaners", 21, 3.49, 5, ""),
    ("SRF-307", "Limescale Remover 500ml", "limescale remover", "surface cleaners", 50, 4.99, 2, "l"),
    ("SRF-308", "Ocean Toilet Gel 750ml", "toilet gel", "surface cleaners", 30, 2.99, 4, "ls"),
    ("SRF-309", "Multi-Surface Concentrate Refill 1L", "concentrate refill", "surface cleaners", 60, 9.99, 2,
     "l"),
    ("SRF-310", "Oven Cleaner Gel 500ml", "oven cleaner", "surface cleaners", 60, 6.49, 1.5, "l"),
    ("PAP-401", "Kitchen Roll 6-pack", "kitchen roll", "paper goods", 21, 6.99, 7, ""),
    ("PAP-402", "Soft Toilet Tissue 24-pack", "toilet tissue", "paper goods", 28, 13.99, 8, ""),
    ("PAP-403", "Bamboo Toilet Tissue 12-pack", "bamboo toilet tissue", "paper goods", 21, 9.49, 3, ""),
    ("PAP-404", "Facial Tissues 4 boxes", "tissues", "paper goods", 35, 5.49, 3, ""),
    ("PAP-405", "Paper Napkins 100", "napkins", "paper goods", 60, 2.99, 1.5, ""),
    ("PAP-406", "Compostable Bin Liners 30L x 40", "compostable bin liners", "paper goods", 40, 5.99, 3, ""),
    ("PAP-407", "Baking Paper 2-pack", "baking paper", "paper goods", 60, 3.49, 1.5, ""),
    ("PAP-408", "Heavy-duty Bin Bags 60L x 20", "bin bags", "paper goods", 35, 4.99, 3, ""),
    ("PAP-409", "Recycled Kitchen Roll 12-pack", "recycled kitchen roll", "paper goods", 45, 12.49, 2, ""),
    ("KIT-501", "Microfibre Cloths 8-pack", "microfibre cloths", "kitchen tools", 120, 7.99, 3, ""),
    ("KIT-502", "Silicone Spatula Set", "spatula set", "kitchen tools", None, 14.99, 1.5, "g"),
    ("KIT-503", "Stainless Steel Dish Rack", "dish rack", "kitchen tools", None, 29.99, 1.5, "g"),
    ("KIT-504", "Refillable Soap Dispenser", "soap dispenser", "kitchen tools", 365, 9.99, 2, "g"),
    ("KIT-505", "Salad Spinner", "salad spinner", "kitchen tools", None, 17.99, 1.5, "g"),
    ("KIT-506", "Swivel Vegetable Peeler", "vegetable peeler", "kitchen tools", 365, 5.99, 1.5, "g"),
    ("KIT-507", "Glass Food Storage Set", "food storage set", "kitchen tools", None, 24.99, 1.5, "g"),
    ("KIT-508", "Electric Milk Frother", "milk frother", "kitchen tools", None, 19.99, 1.5, "g"),
    ("KIT-509", "Spray Mop", "spray mop", "kitchen tools", None, 27.99, 1.5, "g"),
    ("KIT-510", "Countertop Compost Caddy", "compost caddy", "kitchen tools", None, 16.99, 1, "g"),
    ("KIT-511", "Bamboo Chopping Board", "chopping board", "kitchen tools", None, 15.99, 1, ""),
    ("DEC-601", "Fig and Cedar Scented Candle", "fig candle", "home decor", 60, 14.99, 2.5, "s"),
    ("DEC-602", "Cedar Reed Diffuser 100ml", "reed diffuser", "home decor", 60, 18.99, 2, "ls"),
    ("DEC-603", "Linen Cushion Cover", "cushion cover", "home decor", None, 19.99, 1, ""),
    ("DEC-604", "Woven Storage Basket", "storage basket", "home decor", None, 24.99, 1, ""),
    ("DEC-605", "Stoneware Vase", "stoneware vase", "home decor", None, 22.99, 1, ""),
    ("DEC-606", "Oat Throw Blanket", "throw blanket", "home decor", None, 39.99, 1, ""),
    ("DEC-607", "Cotton Tea Towels 3-pack", "tea towels", "home decor", 365, 11.99, 1.5, ""),
    ("DEC-608", "Bamboo Bath Mat", "bath mat", "home decor", None, 21.99, 1, ""),
    ("DEC-609", "Oak Photo Frame", "photo frame", "home decor", None, 12.99, 1, ""),
)

# ----------------------------------------------------------------------------- customer kinds
KINDS = ("steady", "declining", "lapsed", "new", "one_time", "vip")
KIND_SHARES = np.array([0.28, 0.14, 0.20, 0.10, 0.18, 0.10])
STEADY, DECLINING, LAPSED, NEW, ONE_TIME, VIP = range(6)
# Mean days between orders in effective time (the clock runs faster in Q4), low and high.
CADENCE = np.array([[26, 44], [22, 34], [24, 42], [18, 35], [0, 0], [14, 25]], dtype=float)
# Steady and VIP gaps are capped so that every one of them has ordered in the last 90 days.
GAP_CLIP = np.array([[0.4, 1.9], [0.35, 2.5], [0.35, 2.5], [0.35, 2.5], [1, 1], [0.4, 1.9]])
LOYALTY_MEMBER = np.array([0.50, 0.45, 0.35, 0.40, 0.12, 0.75])
REDEEM_CHANCE = np.array([0.45, 0.35, 0.40, 0.40, 0.0, 0.55])
NPS_MEAN = np.array([8.7, 7.6, 7.4, 8.3, 7.0, 9.1])  # declining and lapsed fall from here
PROBLEM_CHANCE = np.array([0.07, 0.24, 0.26, 0.10, 0.22, 0.05])
SMS_OPT_IN = np.array([0.45, 0.38, 0.33, 0.42, 0.30, 0.55])
EMAIL_OPT_IN = np.array([0.80, 0.75, 0.68, 0.78, 0.66, 0.86])

FIRST_NAMES = (
    "Olivia Amelia Isla Ava Mia Ivy Lily Isabella Rosie Sophia Grace Freya Willow Emily Ella Poppy "
    "Evie Charlotte Aisha Priya Zara Maya Hannah Chloe Lucy Megan Sarah Fatima Noor Leah Ruth Joan "
    "Noah Oliver George Arthur Leo Muhammad Harry Oscar Archie Henry Theo Jack Charlie Freddie Alfie "
    "Thomas James William Daniel Samuel Joseph David Adam Omar Ravi Tom Ben Luke Owen Ian Peter"
).split()
LAST_NAMES = (
    "Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson Thompson "
    "Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson Wood Turner "
    "Martin Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James Scott "
    "Phillips Watson Davis Parker Price Bennett Young Griffiths Mitchell Kelly Cook Carter Richardson "
    "Bailey Collins Bell Shaw Murphy Miller Cox Richards Khan Begum Ahmed Shah Singh Kaur Nowak Rossi"
).split()
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example", "post.example")

# ----------------------------------------------------------------------------- comments
PRAISE = (
    "Love the {product}, one pack lasts ages.",
    "Brilliant {product}, smells lovely too.",
    "Excellent service, everything arrived well packed and on time.",
    "Really pleased with the {product}, will keep ordering.",
    "The subscription saves me a trip to the shops every month.",
    "Fast delivery, and the {product} worked a treat.",
    "Best {product} I have tried, and the refill packs are so handy.",
    "Fantastic customer service when I changed my delivery day.",
    "Everything arrived the next day, brilliant.",
    "Great value and lovely products.",
    "Love that the packaging is recyclable.",
    "So easy to reorder from the app.",
    "The {product} did exactly what I hoped.",
    "Always reliable, I recommend you to all my friends.",
    "Excellent quality, my whole house smells fresh.",
    "Lovely friendly driver and a neat parcel.",
    "My go-to shop for the {product}.",
    "Brilliant value on the bulk packs.",
    "Really happy with the points scheme, got a nice discount.",
    "Ordering is quick and the reminders are spot on.",
    "Five stars for the {product}.",
    "The team sorted a question of mine within an hour, excellent.",
)
PRAISE_OPENERS = ("", "", "", "Honestly, ", "So happy. ", "Wonderful. ", "Top marks. ", "Thank you! ")
PRAISE_CLOSERS = ("", "", "", " Thanks!", " Keep it up.", " Will order again.", " Highly recommend.",
                  " Ten out of ten.")
NEUTRAL = (
    "Decent products, nothing special.",
    "Fine {product}, a bit pricey.",
    "Good overall but the app could be simpler.",
    "Mostly happy, prices have crept up this year.",
    "Does the job. Delivery slots could be more flexible.",
    "It's okay. I would like more unscented options.",
    "Fine, though I prefer the old {product}.",
    "Reasonable value, I shop around sometimes.",
    "Good products, the website is a little slow.",
    "Happy enough, would like bigger refill sizes.",
    "Alright. Good {product} but not amazing.",
    "No complaints really, just average.",
    "Solid choice, I wish there were more eco options.",
    "Products are good, the reminder emails are a bit much.",
)
NEUTRAL_CLOSERS = ("", "", "", " Overall fine.", " Might try other brands.", " We'll see.")
COMPLAINTS: dict[str, tuple[str, ...]] = {
    "leak": (
        "The {product} bottle leaked all over the box.",
        "Cap on the {product} was cracked and it leaked everywhere.",
        "Second bottle in a row that arrived leaking.",
        "The lid would not close and the {product} leaked in my cupboard.",
        "Sticky mess: the {product} was split at the seam and leaking.",
        "My {product} leaked through the parcel onto the doormat.",
        "The {product} arrived half empty, it had leaked in transit.",
        "Leaking bottle again. The whole order smelled of {product}.",
        "The seal on the {product} was broken and it leaked.",
    ),
    "late": (
        "Delivery was a week late.",
        "My order turned up late again.",
        "Parcel arrived four days late with no update.",
        "The tracking said delivered but it came three days late.",
        "Late delivery, I ran out of {product} in the meantime.",
        "Orders keep arriving late, I had to buy elsewhere.",
        "Delivery came late and the courier left it in the rain.",
    ),
    "damaged": (
        "Box arrived crushed and two items were damaged.",
        "The parcel was soaked and the {product} was ruined.",
        "Everything arrived damaged, the packaging was torn open.",
        "The {product} came dented and scratched.",
        "Parcel was damaged in transit, half the order unusable.",
    ),
    "billing": (
        "I was charged twice for my subscription.",
        "Cancelled my subscription but still got billed.",
        "Subscription price went up without any warning.",
        "Billing is a mess, I was charged for a box I skipped.",
        "You took payment for a paused subscription.",
        "Refund still not on my card after two weeks.",
        "Double charged again this month, not acceptable.",
    ),
    "scent": (
        "You changed the scent of the {product} and I don't like it.",
        "The new fragrance of the {product} is far too strong.",
        "The smell of the {product} is nothing like it used to be.",
        "Why change the scent? The old {product} was perfect.",
        "The new perfume gives me a headache.",
    ),
    "wrong_item": (
        "Received the wrong item, I ordered {product}.",
        "Got the wrong size of {product}, again.",
        "Half my order was missing and one item was wrong.",
        "Sent me the scented version instead of the unscented one.",
        "Wrong items in the box and no reply to my email.",
    ),
    "broken": (
        "The {product} broke after two weeks.",
        "Handle snapped off the {product} on first use, it is broken.",
        "The {product} stopped working after a month.",
        "Cheap {product}, broken within days.",
        "My {product} arrived broken.",
        "Broken {product} already, very flimsy.",
    ),
    "plain": (
        "the lid would not close",
        "the spray trigger would not work",
        "too expensive for what it is",
        "not as good as before",
        "nobody answered my email",
        "the {product} won't clean properly any more",
        "the refill does not fit the bottle",
        "waited on hold for forty minutes",
        "the {product} left marks on everything",
        "could not change my delivery address in the app",
    ),
}
COMPLAINT_TOPICS = tuple(COMPLAINTS)
COMPLAINT_TOPIC_SHARES = np.array([0.10, 0.22, 0.14, 0.14, 0.10, 0.10, 0.08, 0.12])
GENERIC_NEGATIVE = (
    "Not impressed lately.",
    "Prices keep going up and quality has not.",
    "Customer service takes days to reply.",
    "Quality of the {product} has gone down.",
    "Disappointing, I expected better.",
    "Too many emails and not enough stock.",
    "Meh. Cheaper at the supermarket.",
    "Out of stock on the {product} again.",
)
COMPLAINT_OPENERS = ("", "", "", "Really disappointed. ", "Not happy. ", "Again! ", "Sorry but ")
PLAIN_OPENERS = ("", "", "", "honestly ", "ugh ", "well ")
PLAIN_CLOSERS = ("", "", "", " again", "!!", ". not good")
COMPLAINT_CLOSERS = ("", "", "", " Very disappointed.", " Please sort this out.", " Thinking of cancelling.",
                     " Will shop elsewhere if this happens again.", " Not acceptable.")
# Ticket topic for each complaint topic.
TOPIC_TICKET = {"leak": "product", "late": "delivery", "damaged": "delivery", "billing": "billing",
                "scent": "product", "wrong_item": "delivery", "broken": "product", "plain": "product"}


def _catalogue_frame() -> pd.DataFrame:
    cols = ["sku", "name", "short", "category", "replenishment_days", "unit_price", "weight", "traits"]
    frame = pd.DataFrame(CATALOGUE, columns=cols)
    frame["replenishment_days"] = frame["replenishment_days"].astype("Int64")
    return frame


def _day_of_year(start: date, days: np.ndarray) -> np.ndarray:
    dates = np.datetime64(start, "D") + days.astype("int64")
    years = dates.astype("datetime64[Y]")
    return (dates - years.astype("datetime64[D]")).astype("int64")


def _effective_clock(start: date, n_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Calendar day boundaries and the effective time at each: the clock runs up to 45 % faster
    around early December, so a fixed cadence in effective time gives a Q4 peak in orders."""
    days = np.arange(n_days + 1)
    doy = _day_of_year(start, days[:-1])
    dist = np.minimum(np.abs(doy - 340), 365 - np.abs(doy - 340))
    rate = 1.0 + 0.45 * np.exp(-0.5 * (dist / 24.0) ** 2)
    return days.astype(float), np.r_[0.0, np.cumsum(rate)]


def _group_index(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For groups of `counts` rows laid end to end: each row's group, its index within the
    group, and each group's first row."""
    starts = np.cumsum(counts) - counts
    group = np.repeat(np.arange(len(counts)), counts)
    within = np.arange(counts.sum()) - starts[group]
    return group, within, starts


def _ext_ids(prefix: str, ids: np.ndarray, width: int) -> np.ndarray:
    digits = np.strings.zfill(ids.astype("int64").astype(_S), width)
    return np.strings.add(prefix, digits).astype(object)


def _frame(columns: dict[str, object]) -> pd.DataFrame:
    """A DataFrame that keeps text as plain Python str objects: pandas' default Arrow strings
    cost a conversion here and another one back when the rows are written."""
    return pd.DataFrame({k: pd.Series(v, dtype=object) if _is_text(v) else v for k, v in columns.items()})


def _is_text(values: object) -> bool:
    return isinstance(values, np.ndarray) and values.dtype.kind in "OUT"


# ----------------------------------------------------------------------------- customers


def _customers(rng: np.random.Generator, n: int, horizon: int, start: date, first_id: int) -> pd.DataFrame:
    kind = rng.choice(len(KINDS), size=n, p=KIND_SHARES)
    u = rng.random(n)
    cadence = CADENCE[kind, 0] + (CADENCE[kind, 1] - CADENCE[kind, 0]) * rng.random(n)
    # Signup (calendar days since the history's start; negative = before it).
    latest = np.select([kind == STEADY, kind == DECLINING, kind == VIP, kind == LAPSED],
                       [horizon - 150, horizon - 300, horizon - 240, horizon - 250], horizon - 1)
    signup = latest * u ** 0.8
    veteran = np.isin(kind, (STEADY, DECLINING, VIP, LAPSED)) & (rng.random(n) < 0.22)
    signup = np.where(veteran, -rng.uniform(20, 1200, n), signup)
    new = kind == NEW
    signup = np.where(new, rng.uniform(horizon - 120, horizon - 2, n), signup)
    one = kind == ONE_TIME
    signup = np.where(one, rng.uniform(-200, horizon - 1, n), signup)
    first = np.where(veteran, rng.random(n) * cadence, np.maximum(signup, 0) + rng.uniform(0, 4, n))
    first = np.where(one & (signup < 0), rng.uniform(0, horizon - 1, n), first)
    first = np.minimum(first, horizon - 0.01)
    end = np.full(n, horizon - 1e-6)
    lapsed = kind == LAPSED
    stop = first + (horizon - 95 - first) * rng.uniform(0.12, 1.0, n)
    end = np.where(lapsed, np.maximum(stop, first + 20), end)
    growth = np.where(kind == DECLINING, rng.uniform(1.05, 1.15, n), 1.0)

    segment = np.where(rng.random(n) < 0.14, "small_business", "consumer").astype(object)
    segment[kind == VIP] = np.where(rng.random((kind == VIP).sum()) < 0.85, "vip", "small_business")
    ids = np.arange(first_id, first_id + n)
    fn = np.array(FIRST_NAMES, dtype=object)[rng.integers(0, len(FIRST_NAMES), n)]
    ln = np.array(LAST_NAMES, dtype=object)[rng.integers(0, len(LAST_NAMES), n)]
    domain = np.array(EMAIL_DOMAINS, dtype=object)[rng.integers(0, len(EMAIL_DOMAINS), n)]
    name = fn + " " + ln
    email = (pd.Series(fn).str.lower() + "." + pd.Series(ln).str.lower() + pd.Series(ids).astype(str)
             + "@" + pd.Series(domain)).to_numpy(dtype=object)
    phone = np.char.add("+44 7700 900", np.char.zfill(rng.integers(0, 1000, n).astype(str), 3)).astype(object)
    phone[rng.random(n) < 0.3] = None
    email_opt = rng.random(n) < EMAIL_OPT_IN[kind]
    sms_opt = rng.random(n) < SMS_OPT_IN[kind]
    return _frame({
        "id": ids,
        "external_id": _ext_ids("C", ids, 6),
        "kind": np.array(KINDS, dtype=object)[kind],
        "kind_code": kind,
        "name": name,
        "email": email,
        "phone": phone,
        "signup_x": signup,
        "first_x": first,
        "end_x": end,
        "cadence": cadence,
        "growth": growth,
        "segment": segment,
        "region": np.array(REGIONS, dtype=object)[rng.choice(len(REGIONS), n, p=REGION_SHARES)],
        "owner": np.array(OWNERS, dtype=object)[rng.choice(len(OWNERS), n, p=OWNER_SHARES)],
        "email_opt_in": email_opt,
        "sms_opt_in": sms_opt,
    })


# ----------------------------------------------------------------------------- orders


def _order_times(rng: np.random.Generator, cust: pd.DataFrame, clock: tuple[np.ndarray, np.ndarray]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(customer row, calendar day as float) of every order, from a renewal process per
    customer in effective time, all customers at once."""
    grid, eff = clock
    kind = cust["kind_code"].to_numpy()
    s0 = np.interp(cust["first_x"].to_numpy(), grid, eff)
    s1 = np.interp(cust["end_x"].to_numpy(), grid, eff)
    cad = cust["cadence"].to_numpy()
    lo, hi = GAP_CLIP[kind, 0], GAP_CLIP[kind, 1]
    span = np.maximum(s1 - s0, 0)
    nmax = np.where(kind == ONE_TIME, 1, np.floor(span / np.maximum(cad * lo, 1e-9)).astype("int64") + 1)
    group, within, starts = _group_index(nmax)
    factor = np.clip(rng.gamma(7.0, 1 / 7.0, len(group)), lo[group], hi[group])
    growth = cust["growth"].to_numpy()[group] ** np.minimum(within, 200)
    gap = factor * cad[group] * growth
    gap[within == 0] = 0.0
    csum = np.cumsum(gap)
    pos = s0[group] + csum - csum[starts][group]
    keep = pos <= s1[group]
    group, pos = group[keep], pos[keep]
    x = np.interp(pos, eff, grid)
    return group, np.minimum(x, grid[-1] - 1e-6)


def _orders(rng: np.random.Generator, cust: pd.DataFrame, prod: pd.DataFrame, horizon: int, start: date,
            first_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    clock = _effective_clock(start, horizon)
    group, x = _order_times(rng, cust, clock)
    t = np.round(x * DAY_S).astype("int64")  # seconds since the history's start
    order = np.lexsort((group, t))
    group, t, x = group[order], t[order], x[order]
    n_orders = len(t)
    n_cust = len(cust)
    kind = cust["kind_code"].to_numpy()
    seg = cust["segment"].to_numpy()
    business = (seg == "small_business")[group]
    vip = (kind == VIP)[group]

    # Each customer's usual basket: a handful of consumables drawn by popularity (Gumbel top-k).
    pool = np.flatnonzero(prod["replenishment_days"].fillna(999).to_numpy() <= 60)
    extras = np.setdiff1d(np.arange(len(prod)), pool)
    w = prod["weight"].to_numpy()
    keys = np.log(w[pool])[None, :] - np.log(-np.log(rng.random((n_cust, len(pool)))))
    pref = pool[np.argsort(-keys, axis=1)[:, :7]]
    k_pref = np.where(kind == VIP, rng.integers(4, 8, n_cust),
                      np.where(seg == "small_business", rng.integers(3, 8, n_cust),
                               rng.integers(2, 6, n_cust)))

    lam = np.where(vip, 1.8, np.where(business, 1.5, 0.9))
    n_lines = np.minimum(1 + rng.poisson(lam), k_pref[group])
    o_idx, _, _ = _group_index(n_lines)
    slot = (rng.random(len(o_idx)) * k_pref[group[o_idx]]).astype("int64")
    p_idx = pref[group[o_idx], slot]
    extra = rng.random(n_orders) < np.where(vip, 0.10, 0.06)
    e_orders = np.flatnonzero(extra)
    e_prod = rng.choice(extras, size=len(e_orders), p=w[extras] / w[extras].sum())
    o_idx = np.r_[o_idx, e_orders]
    p_idx = np.r_[p_idx, e_prod]

    # The leaking batch: for months afterwards many customers buy an alternative instead.
    sku = prod["sku"].to_numpy()
    incident_x = horizon - INCIDENT_DAYS_AGO
    inc_p = int(np.flatnonzero(sku == INCIDENT_SKU)[0])
    alt = np.flatnonzero(np.isin(sku, INCIDENT_ALTERNATIVES))
    lx = x[o_idx]
    after = (p_idx == inc_p) & (lx >= incident_x + 10) & (lx < incident_x + 110)
    recovering = np.clip((lx - incident_x - 10) / 100.0, 0, 1)
    swap = after & (rng.random(len(p_idx)) < 0.65 * (1 - recovering) + 0.05)
    p_idx = np.where(swap, alt[rng.integers(0, len(alt), len(p_idx))], p_idx)

    # One line per product per order.
    key = o_idx * len(prod) + p_idx
    _, first_pos = np.unique(key, return_index=True)
    first_pos.sort()
    o_idx, p_idx = o_idx[first_pos], p_idx[first_pos]
    line_order = np.lexsort((p_idx, o_idx))
    o_idx, p_idx = o_idx[line_order], p_idx[line_order]
    n_lines_total = len(o_idx)

    b_line = business[o_idx]
    qty = np.where(b_line, 1 + rng.poisson(1.5, n_lines_total),
                   1 + (rng.random(n_lines_total) < 0.18) + (rng.random(n_lines_total) < 0.05))
    qty = np.where(vip[o_idx] & ~b_line, qty + (rng.random(n_lines_total) < 0.3), qty).astype("int64")

    # Offer codes: a welcome code on some first orders, holiday and spring campaigns, a
    # come-back code after a long gap, and the odd refill voucher.
    first_of_customer = np.r_[True, np.diff(np.sort(group, kind="stable")) != 0]
    by_cust = np.argsort(group, kind="stable")
    is_first = np.zeros(n_orders, dtype=bool)
    is_first[by_cust[first_of_customer]] = True
    gap_days = np.zeros(n_orders)
    gx = x[by_cust]
    prev_gap = np.r_[0.0, np.diff(gx)]
    prev_gap[first_of_customer] = 0.0
    gap_days[by_cust] = prev_gap
    doy = _day_of_year(start, np.floor(x))
    r = rng.random(n_orders)
    codes = np.array([None, "WELCOME10", "HOLIDAY20", "SPRING15", "COMEBACK15", "REFILL5"], dtype=object)
    discount = np.array([0.0, 0.10, 0.20, 0.15, 0.15, 0.05])
    code = np.select(
        [is_first & (r < 0.3),
         (doy >= 318) & (doy <= 358) & (r < 0.22),
         (doy >= 90) & (doy <= 120) & (r < 0.12),
         (gap_days > 2.2 * cust["cadence"].to_numpy()[group]) & (gap_days > 60) & (r < 0.35),
         r < 0.025],
        [1, 2, 3, 4, 5], 0)

    # Prices in cents: list price, about 7 % lower three years ago, less the offer.
    list_cents = np.round(prod["unit_price"].to_numpy() * 100)
    inflation = 1 - 0.07 * (horizon - x[o_idx]) / horizon
    cents = np.round(list_cents[p_idx] * inflation * (1 - discount[code[o_idx]])).astype("int64")
    total_cents = np.bincount(o_idx, weights=qty * cents, minlength=n_orders).astype("int64")

    ids = np.arange(first_id, first_id + n_orders)
    orders = _frame({
        "id": ids,
        "external_id": _ext_ids("O", ids, 7),
        "customer_row": group,
        "customer_id": cust["id"].to_numpy()[group],
        "x": x,
        "t": t,
        "total_cents": total_cents,
        "offer_code": codes[code],
        "has_incident": np.zeros(n_orders, dtype=bool),
        "product_row": p_idx[np.searchsorted(o_idx, np.arange(n_orders))],
        "gadget_row": -1,
    })
    has_inc = np.zeros(n_orders, dtype=bool)
    has_inc[o_idx[p_idx == inc_p]] = True
    orders["has_incident"] = has_inc
    gadget = np.flatnonzero(np.char.find(prod["traits"].to_numpy().astype(str), "g") >= 0)
    g_lines = np.isin(p_idx, gadget)
    gadget_row = np.full(n_orders, -1)
    gadget_row[o_idx[g_lines]] = p_idx[g_lines]
    orders["gadget_row"] = gadget_row
    lines = _frame({
        "order_row": o_idx,
        "order_id": ids[o_idx],
        "product_row": p_idx,
        "sku": sku[p_idx].astype(object),
        "quantity": qty,
        "unit_cents": cents,
    })
    return orders, lines


# ----------------------------------------------------------------------------- feedback


def _pick(rng: np.random.Generator, options: tuple[str, ...], n: int) -> np.ndarray:
    return np.array(options, dtype=_S)[rng.integers(0, len(options), n)]


def _compose(templates: np.ndarray, products: np.ndarray, openers: np.ndarray, closers: np.ndarray,
             lower: np.ndarray) -> np.ndarray:
    """opener + template with {product} filled + closer, vectorised. After an opener that ends
    a sentence (or none) the text starts with a capital; after "Honestly, " it does not;
    `lower` rows start lower-case whatever the opener (plain words as people type them)."""
    head, _, tail = np.strings.partition(templates, np.array("{product}", dtype=_S))
    has = np.strings.find(templates, "{product}") >= 0
    body = np.strings.add(np.strings.add(head, np.where(has, products, np.array("", dtype=_S))), tail)
    first = np.strings.slice(body, 0, 1)
    rest = np.strings.slice(body, 1, None)
    capital = ((openers == "") | np.strings.endswith(openers, ". ") | np.strings.endswith(openers, "! "))
    keep_i = np.strings.startswith(body, "I ")
    first = np.where(lower, np.strings.lower(first),
                     np.where(capital, np.strings.upper(first),
                              np.where(keep_i, first, np.strings.lower(first))))
    text = np.strings.add(np.strings.add(openers, first), rest)
    return np.strings.add(text, closers)


def _feedback(rng: np.random.Generator, cust: pd.DataFrame, orders: pd.DataFrame, prod: pd.DataFrame,
              horizon: int, first_id: int) -> pd.DataFrame:
    n_cust = len(cust)
    n_orders = len(orders)
    kind = cust["kind_code"].to_numpy()
    ox = orders["x"].to_numpy()
    orow = orders["customer_row"].to_numpy()
    okind = kind[orow]
    incident_x = horizon - INCIDENT_DAYS_AGO
    in_window = (ox >= incident_x) & (ox < incident_x + INCIDENT_WINDOW_DAYS)
    incident = orders["has_incident"].to_numpy() & in_window

    # About three answers per customer: post-purchase surveys on a share of the orders.
    target = 3.0 * n_cust
    p_survey = min(0.9, 0.975 * target / max(n_orders, 1))
    p = np.where(incident, 0.75, p_survey)
    picked = np.flatnonzero(rng.random(n_orders) < p)
    m = len(picked)
    fx = ox[picked] + rng.uniform(0.8, 12, m)
    late = fx >= horizon
    fx[late] = ox[picked][late] + (horizon - ox[picked][late]) * rng.uniform(0.1, 0.95, late.sum())
    fk = okind[picked]
    f_inc = incident[picked]

    # Where the customer is in their own story: declining and lapsed customers sour over time.
    life0 = cust["first_x"].to_numpy()[orow[picked]]
    life1 = np.minimum(cust["end_x"].to_numpy()[orow[picked]], horizon)
    frac = np.clip((ox[picked] - life0) / np.maximum(life1 - life0, 1), 0, 1)
    mean = (NPS_MEAN[fk] - np.where(fk == DECLINING, 3.2 * frac, 0)
            - np.where(fk == LAPSED, 3.6 * frac ** 2, 0))
    problem = (rng.random(m) < PROBLEM_CHANCE[fk] + np.where(fk == DECLINING, 0.2 * frac, 0)
               + np.where(fk == LAPSED, 0.3 * frac ** 2, 0))
    topic_p = COMPLAINT_TOPIC_SHARES / COMPLAINT_TOPIC_SHARES.sum()
    topic = rng.choice(len(COMPLAINT_TOPICS), m, p=topic_p)
    leak = COMPLAINT_TOPICS.index("leak")
    broken = COMPLAINT_TOPICS.index("broken")
    gadget_row = orders["gadget_row"].to_numpy()[picked]
    topic = np.where((topic == broken) & (gadget_row < 0), COMPLAINT_TOPICS.index("plain"), topic)
    inc_problem = f_inc & (rng.random(m) < 0.85)
    problem |= inc_problem
    topic = np.where(inc_problem, leak, topic)
    score = np.clip(np.round(rng.normal(mean, 1.3)), 0, 10).astype("int64")
    detractor = np.array([0, 1, 2, 3, 4, 5, 6])
    det_score = rng.choice(detractor, m, p=np.array([10, 9, 13, 16, 17, 18, 17]) / 100)
    score = np.where(problem, det_score, score)

    # Anonymous web answers (customer unknown): 2 % on top.
    n_anon = int(round(0.02 * m))
    ax = rng.uniform(0, horizon - 0.01, n_anon)
    a_score = np.clip(np.round(rng.normal(7.4, 2.2, n_anon)), 0, 10).astype("int64")
    a_problem = a_score <= 4
    a_topic = rng.choice(len(COMPLAINT_TOPICS), n_anon, p=topic_p)
    a_topic = np.where(a_topic == broken, COMPLAINT_TOPICS.index("plain"), a_topic)

    fx = np.r_[fx, ax]
    score = np.r_[score, a_score]
    problem = np.r_[problem, a_problem]
    topic = np.r_[topic, a_topic]
    customer_id = np.r_[orders["customer_id"].to_numpy()[picked].astype(float), np.full(n_anon, np.nan)]
    product_row = np.r_[orders["product_row"].to_numpy()[picked], rng.integers(0, len(prod), n_anon)]
    gadget_row = np.r_[gadget_row, np.full(n_anon, -1)]
    f_inc = np.r_[f_inc & problem[:m], np.zeros(n_anon, dtype=bool)]
    channel = np.array(CHANNELS, dtype=object)[rng.choice(len(CHANNELS), m + n_anon, p=CHANNEL_SHARES)]
    channel[m:] = "web"
    n = m + n_anon

    # The product a comment talks about: the one ordered, or one that fits the complaint.
    short = prod["short"].to_numpy().astype(object)
    traits = prod["traits"].to_numpy().astype(str)
    liquids = np.flatnonzero(np.char.find(traits, "l") >= 0)
    scented = np.flatnonzero(np.char.find(traits, "s") >= 0)
    inc_row = int(np.flatnonzero(prod["sku"].to_numpy() == INCIDENT_SKU)[0])
    about = product_row.copy()
    is_leak = problem & (topic == leak)
    about = np.where(is_leak & ~np.isin(about, liquids), liquids[rng.integers(0, len(liquids), n)], about)
    about = np.where(f_inc, inc_row, about)
    is_scent = problem & (topic == COMPLAINT_TOPICS.index("scent"))
    about = np.where(is_scent & ~np.isin(about, scented), scented[rng.integers(0, len(scented), n)], about)
    about = np.where(problem & (topic == broken) & (gadget_row >= 0), gadget_row, about)
    products = short[about]

    # Tone follows the score: praise from promoters, mild words from passives, complaints below.
    templates = np.full(n, "", dtype=_S)
    openers = np.full(n, "", dtype=_S)
    closers = np.full(n, "", dtype=_S)
    promoter = ~problem & (score >= 9)
    passive = ~problem & (score >= 7) & (score <= 8)
    low = ~problem & (score <= 6)
    for mask, bank, ob, cb in ((promoter, PRAISE, PRAISE_OPENERS, PRAISE_CLOSERS),
                               (passive, NEUTRAL, ("",), NEUTRAL_CLOSERS),
                               (low, GENERIC_NEGATIVE, COMPLAINT_OPENERS, COMPLAINT_CLOSERS)):
        k = int(mask.sum())
        templates[mask] = _pick(rng, bank, k)
        openers[mask] = _pick(rng, ob, k)
        closers[mask] = _pick(rng, cb, k)
    for i, name in enumerate(COMPLAINT_TOPICS):
        mask = problem & (topic == i)
        k = int(mask.sum())
        templates[mask] = _pick(rng, COMPLAINTS[name], k)
        openers[mask] = _pick(rng, PLAIN_OPENERS if name == "plain" else COMPLAINT_OPENERS, k)
        closers[mask] = _pick(rng, PLAIN_CLOSERS if name == "plain" else COMPLAINT_CLOSERS, k)
    plain = problem & (topic == COMPLAINT_TOPICS.index("plain"))
    comments = _compose(templates, products.astype(_S), openers, closers, plain).astype(object)
    keep_comment = rng.random(n) < np.where(problem | (score <= 6), 0.88, np.where(score >= 9, 0.5, 0.55))
    keep_comment |= f_inc
    comments[~keep_comment] = None
    # A few answers carry a comment but no score (the app's free-text box).
    no_score = keep_comment & (rng.random(n) < 0.03)
    nps = pd.array(score, dtype="Int64")
    nps[no_score] = pd.NA

    order = np.lexsort((customer_id, fx))
    ids = np.arange(first_id, first_id + n)
    frame = _frame({
        "x": fx[order],
        "customer_id": pd.array(customer_id[order], dtype="Int64"),
        "channel": channel[order],
        "nps_score": nps[order],
        "comment": comments[order],
        "problem": problem[order],
        "topic": np.array(COMPLAINT_TOPICS, dtype=object)[topic[order]],
        "incident": f_inc[order],
    })
    frame.insert(0, "id", ids)
    frame.insert(1, "external_id", pd.Series(_ext_ids("F", ids, 7), dtype=object))
    return frame


# ----------------------------------------------------------------------------- loyalty


def _add_months(ts: np.ndarray, months: int) -> np.ndarray:
    return (pd.DatetimeIndex(ts) + pd.DateOffset(months=months)).to_numpy().astype("datetime64[s]")


def _loyalty(rng: np.random.Generator, cust: pd.DataFrame, orders: pd.DataFrame, feedback: pd.DataFrame,
             origin: np.datetime64, horizon: int, first_id: int) -> pd.DataFrame:
    """Earn on orders, goodwill after incident complaints, redemptions chosen so they never
    exceed the balance at that moment, and the expiries that follow from oldest-first use."""
    kind = cust["kind_code"].to_numpy()
    member = rng.random(len(cust)) < LOYALTY_MEMBER[kind]
    id_to_row = pd.Series(np.arange(len(cust)), index=cust["id"].to_numpy())

    orow = orders["customer_row"].to_numpy()
    om = member[orow]
    earn_pts = np.floor(orders["total_cents"].to_numpy()[om] / 100).astype("int64")
    o_t = orders["t"].to_numpy()[om]
    o_ref = orders["external_id"].to_numpy()[om]
    o_cust = orow[om]
    # Goodwill for members who complained about the leaking batch.
    inc = feedback[feedback["incident"] & feedback["customer_id"].notna()]
    g_cust = id_to_row.reindex(inc["customer_id"].astype("int64").to_numpy()).to_numpy()
    g_keep = member[g_cust]
    g_cust = g_cust[g_keep]
    g_t = np.round((inc["x"].to_numpy()[g_keep] + rng.uniform(0.5, 3, g_keep.sum())) * DAY_S).astype("int64")
    g_ok = g_t < horizon * DAY_S
    g_cust, g_t = g_cust[g_ok], g_t[g_ok]

    ev_cust = np.r_[o_cust, g_cust]
    ev_t = np.r_[o_t, g_t]
    ev_pts = np.r_[earn_pts, np.full(len(g_t), 200, dtype="int64")]
    ev_order = np.r_[np.ones(len(o_t), dtype=bool), np.zeros(len(g_t), dtype=bool)]
    ev_ref = np.r_[o_ref, np.full(len(g_t), None, dtype=object)]
    srt = np.lexsort((ev_t, ev_cust))
    ev_cust, ev_t, ev_pts, ev_order, ev_ref = ev_cust[srt], ev_t[srt], ev_pts[srt], ev_order[srt], ev_ref[srt]
    n_ev = len(ev_t)
    if n_ev == 0:
        return pd.DataFrame(columns=["id", "external_id", "customer_id", "occurred_at", "kind", "points",
                                     "expires_at", "order_ref", "computed"])
    _, grp = np.unique(ev_cust, return_inverse=True)
    counts = np.bincount(grp)
    _, within, g0 = _group_index(counts)

    occurred = origin + ev_t.astype("timedelta64[s]")
    # Hearth's one expiry setting (core.loyalty reads the same): 0 means points never expire.
    months = get_settings().points_expiry_months
    if months > 0:
        expires = _add_months(occurred, months)
    else:
        expires = np.full(len(occurred), np.datetime64(NEVER_DEMO, "s"))
    e_t = (expires - origin).astype("int64")
    debit_t = ev_t + 60  # a redemption is booked a minute after the order that earned with it
    big = np.int64(10) ** 10
    debit_key = grp * big + debit_t
    exp_key = grp * big + e_t
    # Debits strictly before each lot's expiry; lots expired at or before each debit.
    q_glob = np.searchsorted(debit_key, grp * big + e_t, side="left")
    x_glob = np.searchsorted(exp_key, debit_key, side="right")
    s_cum = np.cumsum(ev_pts)
    s_at = s_cum - (s_cum[g0] - ev_pts[g0])[grp]  # credits so far within the customer

    n_grp = len(counts)
    redeem_chance = REDEEM_CHANCE[kind[ev_cust[g0]]]
    cum_debit = np.zeros(n_ev, dtype="int64")
    debit = np.zeros(n_ev, dtype="int64")
    spent = np.zeros(n_grp, dtype="int64")
    peak = np.zeros(n_grp, dtype="int64")  # running max of (credits to lot j - debits before its expiry)
    jp = g0.copy()  # next lot to expire, as a global index
    u_redeem = rng.random(n_ev)
    u_share = rng.uniform(0.3, 1.0, n_ev)

    def debits_before_expiry(j: np.ndarray) -> np.ndarray:
        q = q_glob[j]
        has = q > g0[grp[j]]
        return np.where(has, cum_debit[np.maximum(q - 1, 0)], 0)

    for k in range(int(counts.max())):
        act = np.flatnonzero(counts > k)
        idx = g0[act] + k
        target = x_glob[idx]
        need = jp[act] < target
        while need.any():
            a = act[need]
            j = jp[a]
            peak[a] = np.maximum(peak[a], s_at[j] - debits_before_expiry(j))
            jp[a] += 1
            need = jp[act] < target
        balance = s_at[idx] - spent[act] - np.maximum(peak[act], 0)
        want = ev_order[idx] & (balance >= 200) & (u_redeem[idx] < redeem_chance[act])
        amount = np.where(want, np.maximum(100, (balance * u_share[idx] // 50).astype("int64") * 50), 0)
        amount = np.minimum(amount, np.maximum(balance, 0))
        debit[idx] = amount
        spent[act] += amount
        cum_debit[idx] = spent[act]

    # Every lot that expired by the end of today: what was left of it then.
    cutoff = (horizon + 1) * DAY_S
    d_exp = debits_before_expiry(np.arange(n_ev))
    lapsed = e_t < cutoff
    val = np.where(lapsed, s_at - d_exp, np.iinfo("int64").min)
    e_cum = np.maximum(pd.Series(val).groupby(grp, sort=False).cummax().to_numpy(), 0)
    prev = np.r_[0, e_cum[:-1]]
    prev[g0] = 0
    expired = np.where(lapsed, e_cum - prev, 0)

    cust_ids = cust["id"].to_numpy()
    earn_kind = np.where(ev_order, "earn", "adjust").astype(object)
    red = debit > 0
    ex = expired > 0
    frame = _frame({
        "customer_id": np.r_[cust_ids[ev_cust], cust_ids[ev_cust[red]], cust_ids[ev_cust[ex]]],
        "t": np.r_[ev_t, debit_t[red], e_t[ex]],
        "kind": np.r_[earn_kind, np.full(red.sum(), "redeem", dtype=object), np.full(ex.sum(), "expire",
                                                                                   dtype=object)],
        "points": np.r_[ev_pts, -debit[red], -expired[ex]],
        "expires_at": np.r_[expires if months > 0 else np.full(len(expires), np.datetime64("NaT", "s")),
                            np.full(red.sum() + ex.sum(), np.datetime64("NaT", "s"))],
        "order_ref": np.r_[ev_ref, ev_ref[red], np.full(ex.sum(), None, dtype=object)],
    })
    # Expiries follow from Hearth's own rule: records of it, not debits (core.loyalty).
    frame["computed"] = frame["kind"].to_numpy() == "expire"
    frame = frame.sort_values(["t", "customer_id"], kind="stable").reset_index(drop=True)
    ids = np.arange(first_id, first_id + len(frame))
    frame.insert(0, "id", ids)
    frame.insert(1, "external_id", pd.Series(_ext_ids("L", ids, 7), dtype=object))
    frame["occurred_at"] = origin + frame["t"].to_numpy().astype("timedelta64[s]")
    return frame.drop(columns="t")


# ----------------------------------------------------------------------------- refunds

REFUND_SHARE = 0.03  # of ordinary orders
INCIDENT_REFUND_SHARE = 0.35  # of orders with the leaking batch in the incident window
REFUND_REASONS = ("damaged in transit", "wrong item", "changed mind", "item missing")


def _refunds(rng: np.random.Generator, orders: pd.DataFrame, origin: np.datetime64, horizon: int,
             first_id: int) -> pd.DataFrame:
    """A few percent of orders refunded (more of the leaking batch's), in full or in part,
    2 to 21 days after the order and before today."""
    ox = orders["x"].to_numpy()
    incident_x = horizon - INCIDENT_DAYS_AGO
    incident = orders["has_incident"].to_numpy() & (ox >= incident_x) & (ox < incident_x + INCIDENT_WINDOW_DAYS)
    pick = rng.random(len(orders)) < np.where(incident, INCIDENT_REFUND_SHARE, REFUND_SHARE)
    o = orders[pick]
    delay = np.round(rng.uniform(2, 21, len(o)) * DAY_S).astype("int64")
    t = o["t"].to_numpy() + delay
    keep = t < horizon * DAY_S
    o, t = o[keep], t[keep]
    by_time = np.argsort(t, kind="stable")
    o, t = o.iloc[by_time], t[by_time]
    cents = o["total_cents"].to_numpy()
    full = rng.random(len(o)) < 0.7
    part = np.maximum(1, np.round(cents * rng.uniform(0.2, 0.6, len(o)))).astype("int64")
    amount = np.where(full, cents, part)
    inc = incident[pick][keep][by_time]
    reason = np.where(inc, "leaking bottle (batch LAU-101)",
                      np.array(REFUND_REASONS, dtype=object)[rng.integers(0, len(REFUND_REASONS), len(o))])
    ids = np.arange(first_id, first_id + len(o))
    frame = _frame({
        "id": ids,
        "external_id": pd.Series(_ext_ids("RF", ids, 7), dtype=object),
        "kind": np.full(len(o), "refund", dtype=object),
        "order_id": o["id"].to_numpy(),
        "order_ref": o["external_id"].to_numpy(),
        "customer_id": o["customer_id"].to_numpy(),
        "refunded_at": origin + t.astype("timedelta64[s]"),
        "amount": amount / 100,
        "reason": reason.astype(object),
    })
    return frame.reset_index(drop=True)


# ----------------------------------------------------------------------------- tickets


def _tickets(rng: np.random.Generator, cust: pd.DataFrame, orders: pd.DataFrame, feedback: pd.DataFrame,
             horizon: int, first_id: int) -> pd.DataFrame:
    # Complaints often come with a ticket on the matching topic.
    f = feedback[feedback["problem"].to_numpy() & feedback["customer_id"].notna().to_numpy()]
    f = f[rng.random(len(f)) < np.where(f["incident"], 0.5, 0.4)]
    f_x = f["x"].to_numpy() - rng.uniform(0, 1.5, len(f))
    f_topic = f["topic"].map(TOPIC_TICKET).to_numpy()
    # Background questions on some orders.
    pick = rng.random(len(orders)) < 0.015
    o = orders[pick]
    o_x = o["x"].to_numpy() + rng.uniform(0.2, 10, len(o))
    o_topic = np.array(TICKET_TOPICS, dtype=object)[rng.choice(4, len(o), p=[0.4, 0.2, 0.25, 0.15])]
    # Account questions (logins, addresses) and, for declining customers, recent trouble.
    kind = cust["kind_code"].to_numpy()
    acc = rng.random(len(cust)) < 0.06
    acc_x = rng.uniform(np.maximum(cust["first_x"].to_numpy()[acc], 0), horizon)
    dec = (kind == DECLINING) & (rng.random(len(cust)) < 0.35)
    dec_x = horizon - rng.uniform(0.2, 60, dec.sum())
    dec_topic = np.array(("billing", "delivery", "product"), dtype=object)[rng.integers(0, 3, dec.sum())]

    x = np.r_[f_x, o_x, acc_x, dec_x]
    customer_id = np.r_[f["customer_id"].astype("int64").to_numpy(), o["customer_id"].to_numpy(),
                        cust["id"].to_numpy()[acc], cust["id"].to_numpy()[dec]]
    topic = np.r_[f_topic, o_topic, np.full(acc.sum(), "account", dtype=object), dec_topic]
    keep = x < horizon
    x, customer_id, topic = x[keep], customer_id[keep], topic[keep]
    n = len(x)
    age = horizon - x
    duration = rng.lognormal(np.log(2.0), 0.9, n)
    r = rng.random(n)
    status = np.where(age < 3, np.where(r < 0.65, "open", np.where(r < 0.85, "pending", "closed")),
                      np.where(age < 14, np.where(r < 0.3, "open", np.where(r < 0.5, "pending", "closed")),
                               np.where(r < 0.025, "open", "closed"))).astype(object)
    closed_x = x + duration
    status = np.where((status == "closed") & (closed_x >= horizon), "pending", status)
    order = np.lexsort((customer_id, x))
    ids = np.arange(first_id, first_id + n)
    frame = _frame({
        "id": ids,
        "external_id": _ext_ids("T", ids, 6),
        "customer_id": customer_id[order],
        "x": x[order],
        "closed_x": np.where(status == "closed", closed_x, np.nan)[order],
        "topic": topic[order],
        "status": status[order],
    })
    return frame


# ----------------------------------------------------------------------------- assembly


def _to_datetime(origin: np.datetime64, days: np.ndarray) -> np.ndarray:
    secs = np.round(np.asarray(days, dtype=float) * DAY_S)
    out = np.full(len(secs), np.datetime64("NaT"), dtype="datetime64[s]")
    ok = ~np.isnan(secs)
    out[ok] = origin + secs[ok].astype("int64").astype("timedelta64[s]")
    return out


def generate_demo(*, customers: int, seed: int, today: date | None = None,
                  first_ids: dict[str, int] | None = None,
                  progress: Callable[[str], None] | None = None) -> dict[str, pd.DataFrame]:
    """Every demo table as a DataFrame with the columns of its db table (plus a few helper
    columns, e.g. `kind` on customers, that `load_demo` leaves out).

    Parameters
    ----------
    customers : how many customers (orders, answers and points scale with it).
    seed : the same seed and `today` give the same store, row for row.
    today : the last day of the history (default: today's UTC date); events end before it.
    first_ids : the first id per table (default 1), for a store that already has rows.

    Raises ValueError for fewer than one customer.
    """
    if customers < 1:
        raise ValueError("the demo store needs at least one customer")
    say = progress or (lambda _msg: None)
    today = today or datetime.now(UTC).date()
    ids = {"customer": 1, "product": 1, "orders": 1, "order_line": 1, "refund": 1, "feedback": 1,
           "loyalty_entry": 1, "support_ticket": 1, **(first_ids or {})}
    rng = np.random.default_rng(seed)
    horizon = HISTORY_DAYS
    start = today - timedelta(days=horizon)
    origin = np.datetime64(start, "s")
    started = time.perf_counter()

    prod = _catalogue_frame()
    prod.insert(0, "id", np.arange(ids["product"], ids["product"] + len(prod)))
    cust = _customers(rng, customers, horizon, start, ids["customer"])
    orders, lines = _orders(rng, cust, prod, horizon, start, ids["orders"])
    say(f"generated {len(cust):,} customers, {len(orders):,} orders, {len(lines):,} order lines "
        f"({time.perf_counter() - started:.1f} s)")
    refunds = _refunds(np.random.default_rng([seed, 3]), orders, origin, horizon, ids["refund"])
    feedback = _feedback(rng, cust, orders, prod, horizon, ids["feedback"])
    loyalty = _loyalty(rng, cust, orders, feedback, origin, horizon, ids["loyalty_entry"])
    tickets = _tickets(rng, cust, orders, feedback, horizon, ids["support_ticket"])
    say(f"generated {len(feedback):,} feedback answers, {len(loyalty):,} loyalty entries, "
        f"{len(tickets):,} support tickets ({time.perf_counter() - started:.1f} s)")

    # Customer dates and states that match each kind's story.
    n = len(cust)
    kind = cust["kind_code"].to_numpy()
    orow = orders["customer_row"].to_numpy()
    last_x = np.full(n, np.nan)
    np.fmax.at(last_x, orow, orders["x"].to_numpy())
    login_x = np.select(
        [np.isin(kind, (STEADY, VIP)), kind == NEW, kind == DECLINING],
        [horizon - rng.uniform(0.05, 20, n), horizon - rng.uniform(0.05, 15, n),
         horizon - rng.uniform(20, 120, n)],
        last_x + rng.uniform(0.01, 25, n))
    login_x = np.minimum(login_x, horizon - 0.01)
    login_x[rng.random(n) < 0.12] = np.nan
    r = rng.random(n)
    status_choices = {
        STEADY: (["active", "paused"], [0.88, 0.12]),
        VIP: (["active", None], [0.6, 0.4]),
        DECLINING: (["paused", "active", None], [0.4, 0.3, 0.3]),
        LAPSED: (["cancelled", None], [0.6, 0.4]),
        NEW: (["active", None], [0.4, 0.6]),
        ONE_TIME: ([None, "cancelled"], [0.9, 0.1]),
    }
    subscription = np.full(n, None, dtype=object)
    for code, (values, shares) in status_choices.items():
        mask = kind == code
        edges = np.cumsum(shares)
        subscription[mask] = np.array(values, dtype=object)[np.searchsorted(edges, r[mask], side="right")]
    signup = np.minimum(cust["signup_x"].to_numpy(), np.where(np.isnan(last_x), horizon - 1, cust["first_x"]))
    created = pd.Timestamp(origin) + pd.to_timedelta(np.floor(signup), unit="D")
    customers_frame = _frame({
        "id": cust["id"],
        "external_id": cust["external_id"],
        "name": cust["name"],
        "email": cust["email"],
        "phone": cust["phone"],
        "signup_date": np.datetime64(start, "D") + np.floor(signup).astype("int64"),
        "segment": cust["segment"],
        "region": cust["region"],
        "owner": cust["owner"],
        "email_opt_in": cust["email_opt_in"],
        "sms_opt_in": cust["sms_opt_in"],
        "subscription_status": subscription,
        "last_login_at": _to_datetime(origin, login_x),
        "created_at": created.to_numpy().astype("datetime64[s]"),
        "updated_at": created.to_numpy().astype("datetime64[s]"),
        "kind": cust["kind"],
    })
    products_frame = prod[["id", "sku", "name", "category", "replenishment_days", "unit_price"]]
    orders_frame = _frame({
        "id": orders["id"],
        "external_id": orders["external_id"],
        "customer_id": orders["customer_id"],
        "ordered_at": origin + orders["t"].to_numpy().astype("timedelta64[s]"),
        "total": orders["total_cents"].to_numpy() / 100,
        "offer_code": orders["offer_code"],
    })
    lines_frame = _frame({
        "id": np.arange(ids["order_line"], ids["order_line"] + len(lines)),
        "order_id": lines["order_id"],
        "sku": lines["sku"],
        "quantity": lines["quantity"],
        "unit_price": lines["unit_cents"].to_numpy() / 100,
    })
    feedback_frame = _frame({
        "id": feedback["id"],
        "external_id": feedback["external_id"],
        "customer_id": feedback["customer_id"],
        "submitted_at": _to_datetime(origin, feedback["x"].to_numpy()),
        "channel": feedback["channel"],
        "nps_score": feedback["nps_score"],
        "comment": feedback["comment"],
        "state": "new",
        "flagged": False,
    })
    tickets_frame = _frame({
        "id": tickets["id"],
        "external_id": tickets["external_id"],
        "customer_id": tickets["customer_id"],
        "opened_at": _to_datetime(origin, tickets["x"].to_numpy()),
        "closed_at": _to_datetime(origin, tickets["closed_x"].to_numpy()),
        "topic": tickets["topic"],
        "status": tickets["status"],
    })
    return {
        "product": products_frame,
        "customer": customers_frame,
        "orders": orders_frame,
        "order_line": lines_frame,
        "refund": refunds,
        "feedback": feedback_frame,
        "loyalty_entry": loyalty,
        "support_ticket": tickets_frame,
    }


TABLES = {
    "product": Product,
    "customer": Customer,
    "orders": Order,
    "order_line": OrderLine,
    "refund": Refund,
    "feedback": Feedback,
    "loyalty_entry": LoyaltyEntry,
    "support_ticket": SupportTicket,
}
COUNT_NAMES = {"product": "products", "customer": "customers", "orders": "orders",
               "order_line": "order lines", "refund": "refunds", "feedback": "feedback",
               "loyalty_entry": "loyalty entries", "support_ticket": "support tickets"}


def _next_ids(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {name: int(conn.execute(select(func.coalesce(func.max(model.id), 0))).scalar_one()) + 1
                for name, model in TABLES.items()}


def _scored(engine: Engine, feedback: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """The answers with sentiment, flag, reasons and severity filled by the feedback module
    before they are stored (the orders are stored by then: severity uses 12-month revenue)."""
    from core.feedback import flag_frame  # the feedback area owns the flagging rules

    with Session(engine) as session:
        scored = flag_frame(session=session, frame=feedback[["customer_id", "nps_score", "comment"]], now=now)
    return feedback.assign(
        sentiment=scored["sentiment"].to_numpy(),
        flagged=scored["flagged"].to_numpy(),
        flag_reasons=pd.Series(scored["flag_reasons"].to_numpy(), index=feedback.index, dtype=object),
        severity=scored["severity"].to_numpy(),
        language=pd.Series(scored["language"].to_numpy(), index=feedback.index, dtype=object),
        needs_read=scored["needs_read"].to_numpy(),
    )


RESOLUTION_SHARES = {"apologised": 0.25, "replacement sent": 0.2, "refund issued": 0.15,
                     "fixed or explained": 0.15, "billing corrected": 0.07, "subscription changed": 0.05,
                     "no action needed": 0.08, "could not reach customer": 0.05}


def _triaged(feedback: pd.DataFrame, now: datetime, seed: int) -> pd.DataFrame:
    """A support team's history on the flagged answers: nearly all older ones resolved by the
    `support` login, the last month's still in the inbox in every state."""
    from core.feedback import RESOLUTION_CATEGORIES

    rng = np.random.default_rng([seed, 2])
    flagged = feedback["flagged"].to_numpy(dtype=bool)
    n = int(flagged.sum())
    submitted = pd.to_datetime(feedback["submitted_at"]).to_numpy().astype("datetime64[s]")[flagged]
    now64 = np.datetime64(now, "s")
    age = (now64 - submitted) / np.timedelta64(1, "D")
    r = rng.random(n)
    # 0 new, 1 acknowledged, 2 waiting, 3 resolved
    state = np.where(age > 30, np.where(r < 0.015, 1, np.where(r < 0.03, 2, 3)),
                     np.where(age < 2, np.where(r < 0.8, 0, 1),
                              np.searchsorted([0.45, 0.65, 0.75], r, side="right")))
    second = np.timedelta64(1, "s")
    first = submitted + (rng.lognormal(np.log(18), 0.8, n) * 3600).astype("int64") * second
    done = first + (rng.lognormal(np.log(48), 0.9, n) * 3600).astype("int64") * second
    state = np.where((state >= 1) & (first >= now64), 0, state)
    state = np.where((state == 3) & (done >= now64), 2, state)
    names = [c for c in RESOLUTION_CATEGORIES if c in RESOLUTION_SHARES] or list(RESOLUTION_CATEGORIES)
    shares = np.array([RESOLUTION_SHARES.get(c, 1.0) for c in names])
    resolution = np.array(names, dtype=object)[rng.choice(len(names), n, p=shares / shares.sum())]
    nat = np.datetime64("NaT", "s")
    states = np.array(["new", "acknowledged", "waiting", "resolved"], dtype=object)
    size = len(feedback)
    columns = {
        "state": feedback["state"].to_numpy(dtype=object).copy(),
        "assignee": np.full(size, None, dtype=object),
        "resolution": np.full(size, None, dtype=object),
        "first_response_at": np.full(size, nat),
        "resolved_at": np.full(size, nat),
    }
    columns["state"][flagged] = states[state]
    columns["assignee"][flagged] = np.where((state > 0) | (r < 0.3), "support", None)
    columns["resolution"][flagged] = np.where(state == 3, resolution, None)
    columns["first_response_at"][flagged] = np.where(state > 0, first, nat)
    columns["resolved_at"][flagged] = np.where(state == 3, done, nat)
    out = feedback.copy()
    for column, values in columns.items():
        out[column] = pd.Series(values, index=feedback.index, dtype=object) if values.dtype == object else values
    return out


def _demo_consent(conn, customers: pd.DataFrame) -> None:  # noqa: ANN001
    """Each demo customer's consent as given when they signed up (core.consent's history)."""
    from db.models import ConsentChange

    parts = [pd.DataFrame({"customer_id": customers["id"].astype("int64").to_numpy(), "channel": channel,
                           "granted": customers[f"{channel}_opt_in"].astype(bool).to_numpy(),
                           "changed_at": customers["created_at"].to_numpy(), "source": "demo",
                           "detail": "demo store", "recorded_by": None})
             for channel in ("email", "sms")]
    bulk_insert(conn, ConsentChange.__table__, pd.concat(parts, ignore_index=True))


def load_demo(*, engine: Engine, customers: int, seed: int, today: date | None = None,
              progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Generate the demo store and write it to an (empty) database; returns rows per table.

    Products whose sku already exists are left as they are. Feedback answers are scored and
    flagged by the feedback module (`core.feedback.flag_frame`) before they are stored, and
    `flag_unscored` runs afterwards for anything left without a sentiment.
    """
    from core.feedback import flag_unscored

    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    today = today or datetime.now(UTC).date()
    now = datetime.combine(today, datetime.min.time())
    frames = generate_demo(customers=customers, seed=seed, today=today, first_ids=_next_ids(engine),
                           progress=say)
    counts: dict[str, int] = {}
    with engine.connect() as conn:
        known = set(conn.execute(select(Product.sku)).scalars())
    frames["product"] = frames["product"][~frames["product"]["sku"].isin(known)]
    for name, model in TABLES.items():
        frame = frames[name]
        if name == "feedback":
            t0 = time.perf_counter()
            frame = _triaged(_scored(engine, frame, now), now, seed)
            say(f"scored and flagged {len(frame):,} feedback answers, {int(frame['flagged'].sum()):,} flagged "
                f"({time.perf_counter() - t0:.1f} s)")
        frame = frame[[c for c in frame.columns if c in model.__table__.c]]
        t0 = time.perf_counter()
        with engine.begin() as conn:
            counts[COUNT_NAMES[name]] = bulk_insert(conn, model.__table__, frame, rebuild_indexes=True)
        say(f"stored {len(frame):,} {COUNT_NAMES[name]} ({time.perf_counter() - t0:.1f} s)")
    with engine.begin() as conn:
        _demo_consent(conn, frames["customer"])
    with Session(engine) as session:
        flag_unscored(session=session, now=now)
        session.commit()
    say(f"demo store ready in {time.perf_counter() - started:.1f} s")
    return counts
