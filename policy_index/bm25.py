"""Okapi BM25 over pre-tokenised documents, as a sparse matrix (fast at 100k documents).

Each document's BM25 term weights are computed once at build time into a CSC matrix (documents ×
terms); a query is then the sum of its terms' columns. ``coverage`` tells how much of a query's
IDF mass a document contains, a score that is comparable across queries (unlike raw BM25).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse

Floats = npt.NDArray[np.float32]


@dataclass(frozen=True)
class BM25:
    vocabulary: dict[str, int]
    weights: sparse.csc_matrix  # documents × terms, BM25-weighted term frequencies
    idf: Floats
    n_docs: int

    @classmethod
    def build(cls, docs: Sequence[Sequence[str]], *, k1: float = 1.2, b: float = 0.75) -> BM25:
        vocabulary: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        tfs: list[float] = []
        lengths = np.zeros(len(docs), dtype=np.float32)
        for i, doc in enumerate(docs):
            lengths[i] = len(doc)
            for term, count in Counter(doc).items():
                rows.append(i)
                cols.append(vocabulary.setdefault(term, len(vocabulary)))
                tfs.append(count)
        n = len(docs)
        row = np.asarray(rows, dtype=np.int32)
        col = np.asarray(cols, dtype=np.int32)
        tf = np.asarray(tfs, dtype=np.float32)
        df = np.bincount(col, minlength=len(vocabulary)).astype(np.float32)
        idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
        avgdl = float(lengths.mean()) if n else 1.0
        dl_norm = k1 * (1 - b + b * lengths[row] / max(avgdl, 1e-9))
        weight = idf[col] * tf * (k1 + 1) / (tf + dl_norm)
        matrix = sparse.csc_matrix((weight, (row, col)), shape=(n, len(vocabulary)))
        matrix.sort_indices()  # coverage() binary-searches each column's documents
        return cls(vocabulary, matrix, idf, n)

    def _terms(self, query: Sequence[str]) -> tuple[npt.NDArray[np.int32], Floats]:
        counts = Counter(t for t in query if t in self.vocabulary)
        ids = np.fromiter((self.vocabulary[t] for t in counts), dtype=np.int32, count=len(counts))
        mult = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        return ids, mult

    def scores(self, query: Sequence[str]) -> Floats:
        """BM25 score of every document (zeros where no query term occurs)."""
        ids, mult = self._terms(query)
        if not len(ids):
            return np.zeros(self.n_docs, dtype=np.float32)
        return np.asarray(self.weights[:, ids] @ mult, dtype=np.float32).ravel()

    def coverage(self, query: Sequence[str], docs: Sequence[int]) -> Floats:
        """Share of the query's IDF mass (unknown terms count as rare) found in each doc."""
        counts = Counter(query)
        if not counts or not len(docs):
            return np.zeros(len(docs), dtype=np.float32)
        max_idf = float(np.log1p((self.n_docs + 0.5) / 0.5))
        known = [(self.vocabulary[t], c) for t, c in counts.items() if t in self.vocabulary]
        total = sum(float(self.idf[i]) * c for i, c in known) + max_idf * sum(
            c for t, c in counts.items() if t not in self.vocabulary
        )
        if not known or total <= 0:
            return np.zeros(len(docs), dtype=np.float32)
        rows = np.asarray(docs, dtype=np.int32)
        found = np.zeros(len(rows), dtype=np.float32)
        indptr, indices = self.weights.indptr, self.weights.indices
        # Per query term, its column's documents (sorted) looked up for the few candidates: no
        # work in proportion to the library, even at 100k documents and common terms.
        for i, c in known:
            column = indices[indptr[i] : indptr[i + 1]]
            at = np.minimum(np.searchsorted(column, rows), len(column) - 1)
            found += (column[at] == rows) * (float(self.idf[i]) * c)
        return found / total
