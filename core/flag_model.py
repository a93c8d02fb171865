"""The learnt part of the negative-feedback flag: a linear model over hashed word and
character n-grams plus VADER's four scores.

Why this shape: a HashingVectorizer needs no stored vocabulary, so the whole model is four
plain arrays (two idf vectors, the coefficients, the intercept) and a threshold. They are
stored as an `.npz` file (numpy arrays, loaded with `allow_pickle=False`) in the repository
and, after `python -m core feedback train`, as the same bytes in the database: nothing is
ever unpickled.

The shipped model (`core/feedback_flag_model.npz`) was trained on the human-rated English
sentences of Hutto and Gilbert's VADER study (tweets, film-review snippets, newspaper opinion;
MIT licence, Copyright (c) 2016 C.J. Hutto), label "negative" = mean rating < -0.5, with a
seeded fifth of them kept aside for measuring (see core.flag_training).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer

N_FEATURES = 2**17
WORD_NGRAMS = (1, 2)
CHAR_NGRAMS = (2, 5)
TOKEN_PATTERN = r"(?u)\b\w[\w']*\b"
N_VADER = 4  # compound, neg, neu, pos
SHIPPED_MODEL = Path(__file__).with_name("feedback_flag_model.npz")
_BATCH = 20_000


@lru_cache(maxsize=1)
def _vectorizers() -> tuple[HashingVectorizer, HashingVectorizer]:
    word = HashingVectorizer(n_features=N_FEATURES, ngram_range=WORD_NGRAMS, alternate_sign=False, norm=None,
                             token_pattern=TOKEN_PATTERN)
    char = HashingVectorizer(n_features=N_FEATURES, analyzer="char_wb", ngram_range=CHAR_NGRAMS,
                             alternate_sign=False, norm=None)
    return word, char


def hashed_counts(texts: list[str]) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """Raw n-gram counts of `texts`: (word counts, character counts), each (n, N_FEATURES)
    float64, the same matrices as the two HashingVectorizers' `transform`."""
    word, _ = _vectorizers()
    return word.transform(texts).tocsr(), _char_counts(texts)


def _char_counts(texts: list[str]) -> sparse.csr_matrix:
    """The character vectorizer's counts, built word by word: its "char_wb" n-grams never cross
    a space, so a text's counts are the sum of its words' counts (each word hashed once per
    call as a one-word text, by the vectorizer itself). Words repeat across comments, so this
    is about three times faster than `transform` on every text, with the same integers."""
    _, char = _vectorizers()
    vocabulary: dict[str, int] = {}
    ids: list[int] = []
    indptr = [0]
    for text in texts:
        # What char_wb does: lower-case, then split on white space.
        ids.extend(vocabulary.setdefault(w, len(vocabulary)) for w in text.lower().split())
        indptr.append(len(ids))
    words = sparse.csr_matrix((np.ones(len(ids)), np.asarray(ids, dtype=np.int64), np.asarray(indptr)),
                              shape=(len(texts), len(vocabulary)))
    per_word = char.transform(list(vocabulary)).tocsr() if vocabulary else sparse.csr_matrix((0, N_FEATURES))
    counts = sparse.csr_matrix(words @ per_word)
    counts.sum_duplicates()
    counts.sort_indices()
    return counts


def _tfidf(counts: sparse.csr_matrix, idf: np.ndarray) -> sparse.csr_matrix:
    """Sublinear tf times idf, rows scaled to unit length (what TfidfTransformer does)."""
    out = counts.astype(np.float64, copy=True)
    out.data = 1.0 + np.log(out.data)
    out = out @ sparse.diags(idf.astype(np.float64))
    norms = np.sqrt(np.asarray(out.multiply(out).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ out)


def _tfidf_dot(counts: sparse.csr_matrix, idf: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """`_tfidf(counts, idf) @ coef` worked out on the stored values alone (no scaled matrix is
    built): per row, the sum of tf-idf times coefficient over the row's tf-idf length. The same
    figures within a few units in the last place of a float64."""
    rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
    weights = (1.0 + np.log(counts.data)) * idf.astype(np.float64)[counts.indices]
    norms = np.sqrt(np.bincount(rows, weights=weights * weights, minlength=counts.shape[0]))
    norms[norms == 0] = 1.0
    return np.bincount(rows, weights=weights * coef[counts.indices], minlength=counts.shape[0]) / norms


def idf_of(counts: sparse.csr_matrix) -> np.ndarray:
    """Smoothed idf (scikit-learn's formula: ln((1 + n) / (1 + df)) + 1) of a count matrix."""
    n = counts.shape[0]
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    return (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)


def design_matrix(word_counts: sparse.csr_matrix, char_counts: sparse.csr_matrix, vader: np.ndarray,
                  idf_word: np.ndarray, idf_char: np.ndarray) -> sparse.csr_matrix:
    """The model's input: tf-idf words | tf-idf characters | VADER's four scores."""
    return sparse.hstack([_tfidf(word_counts, idf_word), _tfidf(char_counts, idf_char),
                          sparse.csr_matrix(np.asarray(vader, dtype=np.float64))]).tocsr()


@dataclass
class FlagModel:
    """Logistic regression over `design_matrix`; `threshold` on its probability means "negative".

    Attributes: idf_word and idf_char (N_FEATURES each), coef (2 * N_FEATURES + 4), intercept,
    threshold (0..1), meta (source, figures, labels; plain JSON).
    """

    idf_word: np.ndarray
    idf_char: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float
    meta: dict = field(default_factory=dict)

    def probabilities(self, texts: list[str], vader: np.ndarray) -> np.ndarray:
        """Probability that each text is negative; `vader` is (n, 4): compound, neg, neu, pos.
        Works in batches so memory stays flat for 300,000 texts."""
        out = np.empty(len(texts), dtype=np.float64)
        vader = np.asarray(vader, dtype=np.float64).reshape(len(texts), N_VADER)
        coef = self.coef.astype(np.float64)
        for start in range(0, len(texts), _BATCH):
            part = texts[start : start + _BATCH]
            word, char = hashed_counts(part)
            z = (_tfidf_dot(word, self.idf_word, coef[:N_FEATURES])
                 + _tfidf_dot(char, self.idf_char, coef[N_FEATURES : 2 * N_FEATURES])
                 + vader[start : start + _BATCH] @ coef[2 * N_FEATURES :] + self.intercept)
            out[start : start + _BATCH] = 1.0 / (1.0 + np.exp(-z))
        return out

    def negative(self, texts: list[str], vader: np.ndarray) -> np.ndarray:
        """Boolean "negative" per text (probability at or above the threshold)."""
        return self.probabilities(texts, vader) >= self.threshold

    def to_bytes(self) -> bytes:
        """The model as `.npz` bytes (arrays and a JSON string; no pickle)."""
        buffer = io.BytesIO()
        np.savez_compressed(buffer, idf_word=self.idf_word.astype(np.float32),
                            idf_char=self.idf_char.astype(np.float32), coef=self.coef.astype(np.float32),
                            intercept=np.array([self.intercept]), threshold=np.array([self.threshold]),
                            meta=np.array(json.dumps(self.meta, sort_keys=True)))
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> FlagModel:
        """Read `to_bytes` output. Raises ValueError when the arrays do not fit this code."""
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            model = cls(idf_word=npz["idf_word"], idf_char=npz["idf_char"], coef=npz["coef"],
                        intercept=float(npz["intercept"][0]), threshold=float(npz["threshold"][0]),
                        meta=json.loads(str(npz["meta"])))
        if model.idf_word.shape != (N_FEATURES,) or model.coef.shape != (2 * N_FEATURES + N_VADER,):
            raise ValueError("the stored feedback model does not fit this version of Hearth; retrain it")
        return model


@lru_cache(maxsize=1)
def shipped_model() -> FlagModel:
    """The model that ships with Hearth (trained on the shared human-rated sentences)."""
    return FlagModel.from_bytes(SHIPPED_MODEL.read_bytes())
