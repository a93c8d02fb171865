"""The flag on real people's words: the held-aside shared sentences against plain VADER, comments
in other languages (../shared/cases/non-english-comments), and a 200,000-character comment."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score
from sqlmodel import Session, select
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from core import feedback as fbk
from core.flag_training import (
    SHARED_SENTIMENT_DIR,
    cross_domain,
    holdout_by_source,
    measure_shared_holdout,
    shared_holdout,
)
from core.importing import import_csv
from core.language import detect_language, detect_languages, language_name
from core.roles import Role
from core.sentiment import assess
from db.models import Feedback

DATA = Path(__file__).resolve().parents[1] / "data"
SUPPORT = {Role.SUPPORT_LEAD}


@pytest.fixture(scope="module")
def holdout_figures() -> dict:
    assert SHARED_SENTIMENT_DIR.is_dir(), f"the shared sentences must be at {SHARED_SENTIMENT_DIR}"
    holdout = shared_holdout()
    # Plain VADER worked out here, independently of Hearth's code: compound < -0.05.
    vader = SentimentIntensityAnalyzer()
    truth = holdout["negative"].to_numpy()
    plain = np.array([vader.polarity_scores(t)["compound"] < -0.05 for t in holdout["text"]])
    return {"ours": measure_shared_holdout(), "vader_f1": f1_score(truth, plain),
            "vader_precision": precision_score(truth, plain), "rows": len(holdout)}


def test_held_aside_sentences_beat_plain_vader_by_a_tenth(holdout_figures: dict) -> None:
    ours = holdout_figures["ours"]["hearth"]
    print(f"\nheld-aside shared sentences ({holdout_figures['rows']}): Hearth P {ours.precision:.3f} "
          f"R {ours.recall:.3f} F1 {ours.f1:.3f}; plain VADER F1 {holdout_figures['vader_f1']:.3f}")
    assert holdout_figures["rows"] >= 3900  # a fifth of ~20,000
    assert holdout_figures["ours"]["vader"].f1 == pytest.approx(holdout_figures["vader_f1"])
    assert ours.f1 >= holdout_figures["vader_f1"] + 0.10
    assert ours.recall >= 0.74
    # It flags what VADER reads negative too, so it is about as precise as VADER, not more.
    assert ours.precision >= holdout_figures["vader_precision"] - 0.04


def test_held_aside_sentences_of_every_kind_miss_no_more_than_plain_vader() -> None:
    # Film reviews, newspaper opinion and tweets apart: the flag beat VADER on the whole and
    # missed more than it on tweets (recall 0.879 against 0.970) until it also flagged what
    # VADER reads negative. One sentence in a hundred is the domain lexicon's doing ("a mess",
    # "scary" and "lost" are not complaints about a cleaning product).
    for source, figures in holdout_by_source().items():
        ours, vader = figures["hearth"], figures["vader"]
        print(f"{source}: Hearth R {ours.recall:.3f} F1 {ours.f1:.3f}; VADER R {vader.recall:.3f} F1 {vader.f1:.3f}")
        assert ours.recall >= vader.recall - 0.01, source
        assert ours.false_negatives <= vader.false_negatives + max(2, vader.false_negatives // 50), source
        if source != "tweets":  # VADER's lexicon was checked against these very tweets
            assert ours.f1 >= vader.f1 + 0.05, source


def _import(session: Session, data: bytes) -> None:
    import_csv(session=session, kind="feedback", data=data, filename="feedback.csv", actor="admin")


def test_non_english_case(session: Session) -> None:
    # ../shared/cases/non-english-comments: W3-W6 flagged, W1 and W2 not; German praise is never
    # read as English ("die", "war"); a German comment without a score goes to a person to read.
    _import(session, (DATA / "non_english_comments.csv").read_bytes())
    rows = {f.external_id: f for f in session.exec(select(Feedback)).all()}
    assert {k for k, f in rows.items() if f.flagged} == {"W3", "W4", "W5", "W6"}
    assert {k: f.language for k, f in rows.items()} == {"W1": "de", "W2": "de", "W3": "fr", "W4": "es",
                                                        "W5": "it", "W6": "en"}
    # W2 ("Es war perfekt", 8) is a passive's comment the flag cannot read: a person reads it.
    assert {k for k, f in rows.items() if f.needs_read} == {"W1", "W2"}
    assert "negative tone" not in (rows["W1"].flag_reasons or "") + (rows["W2"].flag_reasons or "")
    assert "broken" in rows["W3"].flag_reasons and "refund" in rows["W4"].flag_reasons
    assert "late delivery" in rows["W5"].flag_reasons and "damaged delivery" in rows["W5"].flag_reasons
    needs_read = fbk.inbox(session=session, username="support", roles=SUPPORT, queue="needs_read")
    assert sorted(needs_read.rows["response_id"].tolist()) == ["W1", "W2"]
    assert needs_read.rows["language"].tolist() == ["de", "de"]

    french = fbk.inbox(session=session, username="support", roles=SUPPORT, language="fr")
    assert french.rows["response_id"].tolist() == ["W3"]


def test_a_passive_score_with_a_comment_the_flag_cannot_read_goes_to_a_person(session: Session) -> None:
    # A 7 or 8 says little: a Polish complaint (no keyword patterns for Polish) and a Dutch remark
    # that names no problem were neither flagged nor read by anyone. A promoter's 9 speaks for
    # itself. Dutch and Portuguese complaints are named by keyword now ("kapot aan": broken,
    # damaged delivery; "danificada", "reembolso"), as German, French, Spanish and Italian were.
    _import(session, "response_id,customer_id,submitted_at,channel,nps_score,comment\n"
            "M1,K1,2025-03-02T09:00:00Z,web,7,Het pakket kwam kapot aan en niemand reageert op mijn mails\n"
            "M2,K2,2025-03-02T10:00:00Z,web,8,Paczka przyszła uszkodzona i nikt nie odpowiada\n"
            "M3,K3,2025-03-02T11:00:00Z,web,9,Het pakket kwam snel en alles was heel\n"
            "M4,K4,2025-03-02T12:00:00Z,web,8,Ik had meer verwacht van de geur eerlijk gezegd\n"
            "M5,K5,2025-03-02T13:00:00Z,web,,A encomenda chegou danificada e ainda estou à espera do reembolso\n"
            "M6,K6,2025-03-02T14:00:00Z,web,,Chegou rápido e sem danos\n".encode())
    rows = {f.external_id: f for f in session.exec(select(Feedback)).all()}
    assert {k for k, f in rows.items() if f.needs_read} == {"M2", "M4", "M6"}
    assert {k for k, f in rows.items() if f.flagged} == {"M1", "M5"}
    assert rows["M1"].language == "nl" and rows["M5"].language == "pt"
    assert "broken" in rows["M1"].flag_reasons and "refund" in rows["M5"].flag_reasons


@pytest.mark.parametrize(
    ("language", "comment", "flagged"),
    [
        ("de", "Die Flasche ist ausgelaufen und der Karton war nass.", True),
        ("de", "Der Mixer ist nach einer Woche kaputt, ich will eine Rückerstattung.", True),
        ("de", "Das Paket kam zwei Wochen zu spät.", True),
        ("de", "Sehr gute Qualität, nichts kaputt, schnelle Lieferung.", False),
        ("de", "Ich bin sehr zufrieden mit dem Waschmittel.", False),
        ("fr", "La bouteille fuit et le carton était trempé.", True),
        ("fr", "Le mixeur est cassé, je veux être remboursé.", True),
        ("fr", "Livraison en retard de deux semaines.", True),
        ("fr", "Très bon produit, livraison rapide, rien de cassé.", False),
        ("fr", "Je suis très contente de la lessive.", False),
        ("es", "La botella gotea y la caja llegó mojada.", True),
        ("es", "La batidora está rota, quiero un reembolso.", True),
        ("es", "El pedido llegó con retraso de dos semanas.", True),
        ("es", "Muy buen producto, entrega rápida y bien embalado.", False),
        ("es", "Estoy muy contenta con el detergente.", False),
        ("it", "La bottiglia perde e la scatola era bagnata.", True),
        ("it", "Il frullatore è rotto, voglio un rimborso.", True),
        ("it", "Il pacco è arrivato in ritardo di due settimane.", True),
        ("it", "Ottimo prodotto, consegna veloce e niente di rotto.", False),
        ("it", "Sono molto contenta del detersivo.", False),
    ],
)
def test_problems_named_in_four_languages(language: str, comment: str, flagged: bool) -> None:
    out = assess(comment=comment, nps_score=8)
    assert out.language == language
    assert out.flagged is flagged, out.reasons
    assert not any(r.startswith("negative tone") for r in out.reasons)  # tone is read in English only


def test_a_detractor_in_any_language_is_flagged_and_praise_never_is() -> None:
    assert assess(comment="Es war perfekt", nps_score=2).reasons == ("detractor 2",)
    praise = assess(comment="Die Lieferung war schnell und alles gut verpackt.", nps_score=None)
    assert not praise.flagged and praise.needs_read and praise.language == "de"
    assert not assess(comment="Es war perfekt", nps_score=10).flagged


def test_a_200000_character_comment_imports_in_under_10_seconds(session: Session) -> None:
    detect_language("warm up")  # lingua loads its language models once per process
    assess(comment="warm up", nps_score=None)
    comment = ("The refill bottle leaked all over the box and nobody answers my emails. " * 2800)[:200_000]
    data = ("response_id,submitted_at,nps_score,comment\n"
            f'L1,2026-11-01T10:00:00Z,,"{comment}"\n').encode()
    started = time.perf_counter()
    _import(session, data)
    took = time.perf_counter() - started
    stored = session.exec(select(Feedback).where(Feedback.external_id == "L1")).one()
    assert took < 10, f"import took {took:.1f} s"
    assert len(stored.comment) == 200_000  # the whole text is kept
    assert stored.flagged and "leaking" in stored.flag_reasons
    started = time.perf_counter()
    page = fbk.inbox(session=session, username="support", roles=SUPPORT, since=datetime(2026, 10, 1))
    assert time.perf_counter() - started < 5
    shown = page.rows.loc[page.rows["response_id"] == "L1"].iloc[0]
    assert len(shown["comment"]) < 1100 and shown["comment_chars"] == 200_000


@pytest.mark.parametrize(
    ("comment", "language"),
    [
        # English that lingua alone read as French, German or Dutch (so it was never read for tone):
        # a word only English has ("the", "its", "it's") and no function word of the other
        # languages make it English without asking lingua.
        ("The oven door on the mini oven won't shut.", "en"),
        ("The door on the cabinet came off its hinges.", "en"),
        ("It's all surface psychodramatics.", "en"),
        ("Escapism in its purest form.", "en"),
        # One function word of another language sends the text to lingua as before.
        ("Die Lieferung war schnell und alles gut verpackt.", "de"),
        ("The colis est arrivé cassé et le carton était trempé.", "fr"),
        ("Il pacco è arrivato in ritardo e the scatola era danneggiata.", "it"),
        ("El pedido llegó con retraso y the caja estaba rota.", "es"),
    ],
)
def test_obvious_english_skips_lingua_and_other_languages_still_get_it(comment: str, language: str) -> None:
    assert detect_languages([comment]) == [language]


@pytest.mark.parametrize(
    ("comment", "language", "name"),
    [
        ("Paczka przyszła uszkodzona, a obsługa klienta nie odpowiada na maile.", "pl", "Polish"),
        ("Balíček přišel poškozený a nikdo mi neodpovídá na e-maily.", "cs", "Czech"),
        ("Paketet kom trasigt och ingen svarar på mina mejl.", "sv", "Swedish"),
        ("Pakken kom i stykker, og ingen svarer på mine mails.", "da", "Danish"),
    ],
)
def test_a_language_the_flag_cannot_read_is_named_and_goes_to_a_person(comment: str, language: str,
                                                                         name: str) -> None:
    # Each was labelled German or Dutch when lingua chose among the flag's seven languages only.
    out = assess(comment=comment, nps_score=None)
    assert (out.language, language_name(out.language)) == (language, name)
    assert out.needs_read and not out.flagged


@pytest.mark.parametrize(
    ("comment", "language", "name"),
    [  # each says "the product arrived broken" (the last, "the parcel arrived damaged")
        ("Товар прибыл сломанным", "ru", "Russian"),
        ("Το προϊόν έφτασε σπασμένο", "el", "Greek"),
        ("商品到货时已经坏了", "zh", "Chinese"),
        ("商品が壊れて届きました", "ja", "Japanese"),
        ("المنتج وصل مكسور", "ar", "Arabic"),
        ("Посилка прийшла пошкодженою", "uk", "Ukrainian"),
    ],
)
def test_a_comment_in_another_script_is_never_read_as_english(comment: str, language: str, name: str) -> None:
    # lingua, asked to choose among the flag's seven Latin-script languages, chose none, and none
    # was read as English: sentiment 0, not flagged, not sent to a person.
    out = assess(comment=comment, nps_score=None)
    assert (out.language, language_name(out.language)) == (language, name)
    assert out.needs_read and not out.flagged
    assert assess(comment=comment, nps_score=2).flagged  # a detractor in any language


def test_english_comment_lingua_misread_is_flagged_on_its_problem() -> None:
    out = assess(comment="The oven door on the mini oven won't shut.", nps_score=None)
    assert out.language == "en" and out.flagged
    assert "does not close" in out.themes and not out.needs_read


def test_text_of_a_kind_it_was_not_trained_on_misses_no_more_than_plain_vader() -> None:
    # Customers' comments are none of the three kinds of shared sentences: each kind is measured
    # with a model fitted on the other two only (held-aside sentences, three fits).
    for source, figures in cross_domain(say=lambda _line: None).items():
        ours, vader = figures["hearth"], figures["vader"]
        print(f"{source}: Hearth P {ours.precision:.3f} R {ours.recall:.3f} F1 {ours.f1:.3f}; "
              f"VADER P {vader.precision:.3f} R {vader.recall:.3f} F1 {vader.f1:.3f}")
        assert ours.recall >= vader.recall - 0.01, source
        assert ours.f1 >= vader.f1 - 0.10, source
