"""The flag: one example per reason, negations, and the labelled set against plain VADER."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from core.sentiment import analyse_text, assess, assess_frame, evaluate, parse_mentions

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.parametrize(
    ("comment", "theme"),
    [
        ("The refill bottle leaked in the box.", "leaking"),
        ("The handle snapped off the mop on the second use.", "broken"),
        ("Stopped working after a week.", "stopped working"),
        ("The timer doesn't work anymore.", "not working"),
        ("The door of the bread bin would not close properly.", "does not close"),
        ("I received lemon instead of the unscented version I ordered.", "wrong item"),
        ("One of the three items was missing from the parcel.", "missing item"),
        ("Parcel arrived a week late.", "late delivery"),
        ("It arrived damaged.", "damaged delivery"),
        ("I was charged twice for the same order.", "billing"),
        ("Your subscription sent me a second box even though I paused it.", "subscription"),
        ("I would like a refund for the blender.", "refund"),
        ("Please cancel my subscription.", "cancel"),
        ("My daughter came out in a rash after using the bubble bath.", "allergic reaction"),
        ("The toaster sparked when I plugged it in.", "safety"),
    ],
)
def test_each_problem_flags_even_in_a_calm_tone(comment: str, theme: str) -> None:
    out = assess(comment=comment, nps_score=None)
    assert out.flagged, comment
    assert theme in out.themes
    assert any(r.startswith("mentions: ") and theme in r for r in out.reasons)
    assert out.sentiment <= -0.35  # a named problem is never read as positive


@pytest.mark.parametrize(
    "comment",
    [
        "No leaks so far, works well.",
        "Nothing broken, nothing missing, arrived a day early.",
        "Never had a single leak with the refill pouches.",
        "Unscented detergent, no rash at all since switching.",
        "If it ever leaks I'll let you know.",
        "Easy to pause the subscription when we went on holiday.",
        "Kills germs without that harsh bleach smell.",
        "Gentle on hands, tough on dirt.",
        "Sorry for the late reply to your survey! All good here.",
    ],
)
def test_negated_or_praising_text_is_not_flagged(comment: str) -> None:
    out = assess(comment=comment, nps_score=None)
    assert not out.flagged, (comment, out.reasons)
    assert out.severity == 0.0


def test_detractor_without_text_is_flagged_on_the_score() -> None:
    out = assess(comment=None, nps_score=3)
    assert out.flagged and out.reasons == ("detractor 3",)
    assert out.sentiment == 0.0
    assert not assess(comment="", nps_score=8).flagged


def test_clearly_negative_text_without_score() -> None:
    out = assess(comment="Absolutely terrible service, awful people.", nps_score=None)
    assert out.flagged
    assert out.reasons[0].startswith("negative tone (")  # the model's probability, e.g. "(97%)"


def test_reasons_read_like_the_issue_says() -> None:
    out = assess(comment="Awful. The bottle was leaking and I want a refund.", nps_score=2)
    assert out.reasons_text.startswith("detractor 2; negative tone (")
    assert out.reasons_text.endswith("mentions: leaking, refund")
    assert parse_mentions(out.reasons_text) == ["leaking", "refund"]


def test_sarcasm_with_a_problem_is_negative() -> None:
    text = analyse_text("Great, another bottle that leaked all over the box. Love that for me.")
    assert text.compound > 0  # VADER is fooled by the polite words...
    assert text.sentiment <= -0.35 and text.themes == ("leaking",)  # ...the problem is not


def test_a_promoter_with_a_harsh_word_is_not_flagged_on_tone_alone() -> None:
    assert not assess(comment="I hated cleaning the oven until I found this.", nps_score=10).flagged


def test_severity_orders_detractor_tone_safety_and_value() -> None:
    calm = assess(comment="The lid doesn't seal.", nps_score=7)
    detractor = assess(comment="The lid doesn't seal.", nps_score=1)
    safety = assess(comment="The toaster caught fire.", nps_score=1)
    valued = assess(comment="The lid doesn't seal.", nps_score=1, customer_value=1000)
    assert 0 < calm.severity < detractor.severity < safety.severity
    assert valued.severity == pytest.approx(detractor.severity + 15.0)
    assert max(a.severity for a in (calm, detractor, safety, valued)) <= 100


def test_frame_matches_one_by_one_and_repeats_cost_nothing() -> None:
    comments = ["The kettle leaks from the bottom.", None, "Lovely!", "The kettle leaks from the bottom."]
    frame = pd.DataFrame({"comment": comments, "nps_score": [None, 2, 10, 9], "value": [0, 50, 0, 0]})
    out = assess_frame(frame, customer_value="value")
    for i, row in frame.iterrows():
        one = assess(comment=row["comment"], nps_score=row["nps_score"], customer_value=row["value"])
        assert out.loc[i, "flagged"] == one.flagged
        reasons = out.loc[i, "flag_reasons"]
        assert (reasons if isinstance(reasons, str) else "") == one.reasons_text
        assert out.loc[i, "severity"] == pytest.approx(one.severity)
        assert out.loc[i, "sentiment"] == pytest.approx(one.sentiment)


def _report(name: str, result: dict) -> str:
    h, v = result["hearth"], result["vader"]
    return (f"{name}: {result['rows']} answers; Hearth precision {h.precision:.3f} recall {h.recall:.3f}; "
            f"plain VADER precision {v.precision:.3f} recall {v.recall:.3f}")


def test_labelled_set_beats_plain_vader() -> None:
    result = evaluate(DATA / "labelled_feedback.csv")
    print("\n" + _report("labelled set", result))
    assert result["rows"] >= 300
    hearth, vader = result["hearth"], result["vader"]
    assert hearth.recall > vader.recall
    assert hearth.precision >= vader.precision
    # On comments alone (scores ignored) the flag must still beat VADER: it finds more than
    # twice the complaints, nearly as precisely (it flags what VADER reads negative too).
    assert result["hearth_text_only"].recall > 2 * result["vader_text_only"].recall
    assert result["hearth_text_only"].f1 > result["vader_text_only"].f1 + 0.2
    assert result["hearth_text_only"].precision >= result["vader_text_only"].precision - 0.04


def test_held_out_set_beats_plain_vader() -> None:
    # Written after the rules were fixed and never tuned on: the honest figure.
    result = evaluate(DATA / "labelled_feedback_holdout.csv")
    print("\n" + _report("held-out set", result))
    assert result["hearth"].recall > result["vader"].recall
    assert result["hearth"].precision >= result["vader"].precision


def test_evaluate_command_prints_the_figures(capsys: pytest.CaptureFixture[str]) -> None:
    from core.__main__ import main

    assert main(["feedback", "evaluate", str(DATA / "labelled_feedback.csv")]) == 0
    out = capsys.readouterr().out
    assert "Hearth flag" in out and "plain VADER (compound < -0.05)" in out and "recall" in out


@pytest.mark.parametrize("retrained", [False, True])
def test_a_pool_of_processes_judges_exactly_as_one_process(monkeypatch: pytest.MonkeyPatch, retrained: bool) -> None:
    # The command line and the benchmark judge many comments in a pool (forked workers on Linux,
    # the model in use handed to them); the answers must be those of one process, in order.
    import dataclasses

    from core.sentiment import flag, judge_distinct, shipped_model

    labelled = pd.read_csv(DATA / "labelled_feedback.csv")
    comments = [c for c in labelled["comment"] if isinstance(c, str)][:120]
    triples = [(c, s, "en") for s in (-1, 3, 10) for c in comments] + [
        ("Le colis est arrivé cassé.", -1, "fr"), ("Die Lieferung war schnell.", -1, "de")]
    model = shipped_model()
    if retrained:  # a model that is not the shipped one: a lower threshold flags more
        model = dataclasses.replace(model, threshold=model.threshold / 2)
    one = judge_distinct(triples, model, processes=1)
    monkeypatch.setattr(flag, "PARALLEL_MIN", 50)
    monkeypatch.setattr(flag, "_PARALLEL_CHUNK", 60)
    pooled = judge_distinct(triples, model, processes=2)
    assert pooled == one
    assert sum(one[1]) > 100 and one[5][-1] and not one[1][-1]  # flags; the German praise needs a read


def test_a_comment_plain_vader_finds_strongly_negative_is_flagged_whatever_the_model_says():
    # A tweet from the held-aside human-rated sentences (rated negative): the model scores it
    # under its threshold, plain VADER at -0.75. A promoter's own score still outweighs the tone.
    text = ("some person just called today to ask if he could make illegal copies of one of our films and "
            "give it to his friends/.  WTF?  Who are you?")
    a = assess(comment=text, nps_score=None)
    assert a.flagged and a.reasons == ("negative tone (VADER -0.75)",)
    assert not assess(comment=text, nps_score=9).flagged


@pytest.mark.parametrize("comment", ["The spray made my skin itch.",
                                     "Nice scent, but it brought my daughter out in red blotches."])
def test_a_skin_reaction_in_other_words_is_an_allergic_reaction(comment):
    # From the review of 2 Dec: both were missed (an NPS of 7 is no detractor).
    a = assess(comment=comment, nps_score=7)
    assert a.flagged and "allergic reaction" in a.themes
