"""Whole-graph analytics at lake scale: the evidence graph as integer arrays, not Python objects.

A NetworkX graph stores every node and edge as Python dicts: at a million edges building
it takes tens of seconds and gigabytes, Louvain in pure Python takes minutes, and
``nx.pagerank`` converts the whole graph to a sparse matrix on every call. The analytics
that run over the *whole* graph (communities, centrality, offender-seeded risk, ego
networks for the explorer) do not need per-edge objects, so ``CompactGraph`` keeps the
edges as a symmetric CSR matrix (scipy) built straight from the ``curated.graph_edges``
frame with Polars, with each entry's first/last evidence date beside it for time windows:

- communities: Leiden on modularity (igraph's C core; the issue's "Leiden where size
  demands"), seeded, so re-runs give the same partition;
- risk: personalised PageRank by power iteration on the CSR matrix, the same iteration
  and stopping rule as ``networkx.pagerank`` (tested equal), without building the graph;
- ego networks: breadth-first over CSR slices, keeping only entries whose evidence is
  inside the window, so a two-hop query does not copy the graph first;
- small results (an ego network for a plot) go back to NetworkX with ``to_networkx``.

``workbench.graph.analytics`` keeps the NetworkX versions for the small graphs analysts
explore in notebooks; ``build_graph`` uses this module for the per-node figures it
writes to ``curated.graph_nodes``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

import igraph
import networkx as nx
import numpy as np
import polars as pl
from scipy import sparse

UNDATED_FIRST = np.iinfo(np.int32).min
UNDATED_LAST = np.iinfo(np.int32).max
"""Undated evidence (a register attribute) is a standing fact: it is inside every window."""


@dataclass(frozen=True)
class CompactGraph:
    """Nodes ``0..n-1`` (ids in ``node_ids``) and a symmetric weighted CSR adjacency with dates."""

    node_ids: list[str]
    index: dict[str, int]
    adjacency: sparse.csr_array
    first_day: np.ndarray
    """Per CSR entry: first evidence day (days since 1970-01-01), aligned with ``adjacency.data``."""
    last_day: np.ndarray

    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def n_edges(self) -> int:
        return int(self.adjacency.nnz // 2)

    @classmethod
    def from_edges(cls, edges: pl.DataFrame, nodes: list[str] | None = None) -> CompactGraph:
        """From ``source, target, weight[, first_seen, last_seen]`` rows (``curated.graph_edges``' shape).

        Parallel rows between one pair (several relations) become one entry: weights
        summed, the earliest first and the latest last date kept. ``nodes`` adds nodes
        without edges, in the given order before the rest.
        """
        frame = edges.select(
            pl.min_horizontal("source", "target").alias("u"), pl.max_horizontal("source", "target").alias("v"),
            pl.col("weight").cast(pl.Float64),
            _day("first_seen", edges, UNDATED_FIRST, first=True),
            _day("last_seen", edges, UNDATED_LAST, first=False),
        ).filter(pl.col("u") != pl.col("v"))
        frame = frame.group_by("u", "v").agg(pl.col("weight").sum(), pl.col("first").min(), pl.col("last").max())
        known = pl.Series("node_id", nodes or [], dtype=pl.Utf8)
        ids = pl.concat([known, frame["u"], frame["v"]]).unique(maintain_order=True)
        codes = pl.DataFrame({"node_id": ids, "code": np.arange(len(ids), dtype=np.int64)})
        coded = (frame.join(codes.rename({"node_id": "u", "code": "i"}), on="u")
                 .join(codes.rename({"node_id": "v", "code": "j"}), on="v"))
        i, j = coded["i"].to_numpy(), coded["j"].to_numpy()
        rows, cols = np.concatenate([i, j]), np.concatenate([j, i])
        order = np.lexsort((cols, rows))
        weight = np.tile(coded["weight"].to_numpy(), 2)[order]
        first = np.tile(coded["first"].to_numpy(), 2)[order]
        last = np.tile(coded["last"].to_numpy(), 2)[order]
        n = len(ids)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        adjacency = sparse.csr_array((weight, cols[order], indptr), shape=(n, n))
        id_list = ids.to_list()
        return cls(id_list, {node: k for k, node in enumerate(id_list)}, adjacency, first, last)

    def degree(self) -> np.ndarray:
        return np.diff(self.adjacency.indptr)

    def communities(self, seed: int = 7, resolution: float = 1.0) -> np.ndarray:
        """Leiden community of every node (modularity, evidence weight), numbered largest first."""
        upper = sparse.triu(self.adjacency, k=1).tocoo()
        graph = igraph.Graph(n=self.n_nodes, edges=np.column_stack([upper.row, upper.col]), directed=False)
        state = random.getstate()
        try:
            random.seed(seed)  # igraph draws from Python's generator
            # two passes (igraph's default): at 1M edges iterating to a fixed point took 40x
            # longer for +0.0007 modularity (measured, benchmarks/bench_graph.py graph)
            found = graph.community_leiden(objective_function="modularity", weights=upper.data,
                                           resolution=resolution, n_iterations=2)
        finally:
            random.setstate(state)
        labels = np.asarray(found.membership, dtype=np.int64)
        sizes = np.bincount(labels)
        rank = np.empty_like(sizes)
        rank[np.lexsort((np.arange(len(sizes)), -sizes))] = np.arange(len(sizes))
        return rank[labels]

    def pagerank(self, seeds: dict[str, float] | None = None, alpha: float = 0.85, max_iter: int = 100,
                 tol: float = 1.0e-6) -> np.ndarray:
        """(Personalised) PageRank on evidence weight; dangling nodes jump like the personalisation.

        The iteration and stopping rule of ``networkx.pagerank`` (scipy variant), so the
        two agree to its tolerance; raises ``nx.PowerIterationFailedConvergence`` like it.
        """
        n = self.n_nodes
        if n == 0:
            return np.zeros(0)
        out_weight = np.asarray(self.adjacency.sum(axis=1)).ravel()
        scale = np.divide(1.0, out_weight, out=np.zeros(n), where=out_weight != 0)
        transition = sparse.diags_array(scale) @ self.adjacency
        if seeds:
            p = np.zeros(n)
            for node, value in seeds.items():
                if node in self.index:
                    p[self.index[node]] = value
            if p.sum() == 0:
                return np.zeros(n)
            p /= p.sum()
        else:
            p = np.full(n, 1.0 / n)
        x = np.full(n, 1.0 / n)
        dangling = out_weight == 0
        for _ in range(max_iter):
            last = x
            x = alpha * (x @ transition + x[dangling].sum() * p) + (1 - alpha) * p
            if np.abs(x - last).sum() < n * tol:
                return x
        raise nx.PowerIterationFailedConvergence(max_iter)

    def ego(self, node: str, hops: int = 2, start: date | None = None, end: date | None = None) -> np.ndarray:
        """Codes of the nodes within ``hops`` of ``node`` over evidence active in ``[start, end]``."""
        if node not in self.index:
            return np.zeros(0, dtype=np.int64)
        active = self._active(start, end)
        seen = np.zeros(self.n_nodes, dtype=bool)
        frontier = np.array([self.index[node]], dtype=np.int64)
        seen[frontier] = True
        indptr, indices = self.adjacency.indptr, self.adjacency.indices
        for _ in range(hops):
            starts, stops = indptr[frontier], indptr[frontier + 1]
            lengths = stops - starts
            if not lengths.sum():
                break
            entries = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
            if active is not None:
                entries = entries[active[entries]]
            reached = np.unique(indices[entries])
            frontier = reached[~seen[reached]]
            seen[frontier] = True
            if not len(frontier):
                break
        return np.flatnonzero(seen)

    def to_networkx(self, codes: np.ndarray, start: date | None = None, end: date | None = None) -> nx.Graph:
        """The subgraph induced by ``codes`` (only evidence inside the window) as a weighted NetworkX graph."""
        codes = np.sort(np.asarray(codes, dtype=np.int64))
        graph = nx.Graph()
        graph.add_nodes_from(self.node_ids[c] for c in codes)
        keep = np.zeros(self.n_nodes, dtype=bool)
        keep[codes] = True
        active = self._active(start, end)
        indptr, indices, data = self.adjacency.indptr, self.adjacency.indices, self.adjacency.data
        for u in codes:
            for entry in range(indptr[u], indptr[u + 1]):
                v = indices[entry]
                if u < v and keep[v] and (active is None or active[entry]):
                    graph.add_edge(self.node_ids[u], self.node_ids[v], weight=float(data[entry]))
        return graph

    def _active(self, start: date | None, end: date | None) -> np.ndarray | None:
        """Per CSR entry: does its evidence overlap ``[start, end]``? ``None`` when there is no window."""
        if start is None and end is None:
            return None
        lo = _days(start) if start else UNDATED_FIRST
        hi = _days(end) if end else UNDATED_LAST
        return (self.last_day >= lo) & (self.first_day <= hi)


def _days(day: date) -> int:
    return (day - date(1970, 1, 1)).days


def _day(column: str, edges: pl.DataFrame, missing: int, *, first: bool) -> pl.Expr:
    """A date column as int32 days since the epoch, undated as the open end of the window."""
    name = "first" if first else "last"
    if column not in edges.columns:
        return pl.lit(missing, dtype=pl.Int32).alias(name)
    return pl.col(column).cast(pl.Date).cast(pl.Int32).fill_null(missing).alias(name)
