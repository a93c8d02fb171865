"""Demo survey answers (scores and comments that follow each customer's story) and support
tickets."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.demo.arrays import _S, _ext_ids, _frame, _pick
from core.demo.story import (
    CHANNEL_SHARES,
    CHANNELS,
    COMPLAINT_CLOSERS,
    COMPLAINT_OPENERS,
    COMPLAINT_TOPIC_SHARES,
    COMPLAINT_TOPICS,
    COMPLAINTS,
    DECLINING,
    GENERIC_NEGATIVE,
    INCIDENT_DAYS_AGO,
    INCIDENT_SKU,
    INCIDENT_WINDOW_DAYS,
    LAPSED,
    NEUTRAL,
    NEUTRAL_CLOSERS,
    NPS_MEAN,
    PLAIN_CLOSERS,
    PLAIN_OPENERS,
    PRAISE,
    PRAISE_CLOSERS,
    PRAISE_OPENERS,
    PROBLEM_CHANCE,
    TICKET_TOPICS,
    TOPIC_TICKET,
)


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


def _about_products(rng: np.random.Generator, prod: pd.DataFrame, product_row: np.ndarray, *,
                    problem: np.ndarray, topic: np.ndarray, incident: np.ndarray,
                    gadget_row: np.ndarray) -> np.ndarray:
    """Per answer, how the customer calls the product its comment talks about."""
    f_inc = incident
    n = len(product_row)
    leak = COMPLAINT_TOPICS.index("leak")
    broken = COMPLAINT_TOPICS.index("broken")
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

    return products


def _comments(rng: np.random.Generator, *, problem: np.ndarray, score: np.ndarray, topic: np.ndarray,
              products: np.ndarray, incident: np.ndarray) -> tuple[np.ndarray, pd.api.extensions.ExtensionArray]:
    """Per answer, the comment (None for some) and the NPS score (missing for a few that carry a
    comment only)."""
    f_inc = incident
    n = len(score)
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

    return comments, nps


def _scores(rng: np.random.Generator, cust: pd.DataFrame, orders: pd.DataFrame, picked: np.ndarray, *,
            horizon: int, incident: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For the surveyed orders `picked`: whether the answer is about a problem, its complaint
    topic, the NPS score (0-10) and the order's gadget product row (-1: none)."""
    f_inc = incident
    m = len(picked)
    ox = orders["x"].to_numpy()
    orow = orders["customer_row"].to_numpy()
    fk = cust["kind_code"].to_numpy()[orow][picked]
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
    return problem, topic, score, gadget_row


def _feedback(rng: np.random.Generator, cust: pd.DataFrame, orders: pd.DataFrame, prod: pd.DataFrame,
              horizon: int, first_id: int) -> pd.DataFrame:
    n_cust = len(cust)
    n_orders = len(orders)
    ox = orders["x"].to_numpy()
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
    f_inc = incident[picked]

    problem, topic, score, gadget_row = _scores(rng, cust, orders, picked, horizon=horizon, incident=f_inc)
    topic_p = COMPLAINT_TOPIC_SHARES / COMPLAINT_TOPIC_SHARES.sum()
    broken = COMPLAINT_TOPICS.index("broken")

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

    products = _about_products(rng, prod, product_row, problem=problem, topic=topic, incident=f_inc,
                               gadget_row=gadget_row)

    comments, nps = _comments(rng, problem=problem, score=score, topic=topic, products=products,
                               incident=f_inc)

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
