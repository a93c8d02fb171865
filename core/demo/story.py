"""The demo store's parameters: the catalogue, the kinds of customer and their habits, the
incident, the words customers write.

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
  redemptions never exceed the balance at that moment, and the `expire` entries are the
  ones core.loyalty computes from the rest (its one rule: oldest unexpired points are used
  first), so the demo has no expiry logic of its own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

HISTORY_DAYS = 3 * 365
DAY_S = 86_400
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
