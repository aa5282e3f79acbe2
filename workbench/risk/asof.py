"""Features that look back in time: actor history and peer medians, leakage-safe.

Both come in two forms. ``past`` is for training rows: each row sees only rows dated
strictly earlier (history: by day, because an outcome is not known the day a row is
lodged; peers: by month, a bounded trailing window). ``frozen`` is for rows scored after
training: they see the state at the end of the fitted period, so a scored row never needs
the training data and a batch and a real-time score of the same row agree.

Labels may be NaN (rows never inspected): history counts and rates use labelled rows only,
peer medians use every row because they read no label.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import pandas as pd
import polars as pl

from workbench.risk.specs import History, Peer


def log_ratio(frame: pd.DataFrame, numerator: str, denominator: str | None) -> pd.Series:
    """``log1p(num) - log1p(den)`` (or ``log1p(num)`` alone): finite at zero weights and values."""
    num = np.log1p(frame[numerator].astype(float).clip(lower=0))
    return num - np.log1p(frame[denominator].astype(float).clip(lower=0)) if denominator else num


def history_features(keys: pd.Series, dates: pd.Series, labels: np.ndarray, prior: float | np.ndarray,
                     strength: float) -> pd.DataFrame:
    """Per row: how many labelled rows with the same key came on earlier days, and their smoothed rate.

    Rows of the same day do not see each other (their outcomes are not known yet when
    they are lodged), a row never sees its own label, and unlabelled (NaN) rows count for
    nothing. The rate is shrunk towards ``prior`` (one value, or one per row such as
    ``past_base_rate``) with ``strength`` pseudo-rows, so a first-time actor, or a row
    without a key, gets the base rate.
    """
    y = np.asarray(labels, dtype=float)
    frame = pd.DataFrame({"key": keys.to_numpy(), "day": pd.to_datetime(dates).dt.normalize().to_numpy(),
                          "y": np.nan_to_num(y), "known": ~np.isnan(y)})
    daily = frame.groupby(["key", "day"], sort=True, dropna=False)[["y", "known"]].sum().reset_index()
    grouped = daily.groupby("key", sort=False, dropna=False)
    daily["past_sum"] = grouped["y"].cumsum() - daily["y"]
    daily["past_n"] = grouped["known"].cumsum() - daily["known"]
    past = frame.merge(daily[["key", "day", "past_sum", "past_n"]], on=["key", "day"], how="left")
    missing = past["key"].isna().to_numpy()
    sums = np.where(missing, 0.0, past["past_sum"].to_numpy(dtype=float))
    counts = np.where(missing, 0.0, past["past_n"].to_numpy(dtype=float))
    return smoothed(sums, counts, prior, strength)


def past_base_rate(dates: pd.Series, labels: np.ndarray) -> np.ndarray:
    """Per row: the positive rate of all labelled rows on earlier days (0 before any), the leak-free prior.

    The base rate of the whole training period would carry later outcomes into every
    earlier row's history rate; this one only knows what was known that day.
    """
    y = np.asarray(labels, dtype=float)
    frame = pd.DataFrame({"day": pd.to_datetime(dates).dt.normalize().to_numpy(), "y": np.nan_to_num(y),
                          "known": ~np.isnan(y)})
    daily = frame.groupby("day", sort=True)[["y", "known"]].sum()
    past = daily.cumsum() - daily
    rate = (past["y"] / past["known"].where(past["known"] > 0)).fillna(0.0)
    return rate.reindex(frame["day"]).to_numpy()


def smoothed(sums: np.ndarray, counts: np.ndarray, prior: float | np.ndarray, strength: float) -> pd.DataFrame:
    """History as features: log count of labelled rows, and their rate shrunk to ``prior``."""
    return pd.DataFrame({"count": np.log1p(counts), "rate": (sums + prior * strength) / (counts + strength)})


def base_rate(labels: np.ndarray) -> float:
    """Share of positives among labelled rows (0 when none is labelled): the prior of every rate."""
    y = np.asarray(labels, dtype=float)
    return float(np.nanmean(y)) if (~np.isnan(y)).any() else 0.0


def lookup(keys: pd.Series, table: pd.DataFrame) -> pd.DataFrame:
    """The row of ``table`` (indexed by key) for each key, in order; NaN where a key is missing or absent.

    A Polars left join over the Arrow strings: ``table.reindex(keys)`` first copies every
    key into a Python object, which made these lookups half the cost of batch features.
    """
    left = pl.DataFrame({"key": pl.from_pandas(keys.astype("string")).cast(pl.Utf8)})
    right = pl.from_pandas(table.set_axis(table.index.astype(str), axis=0).rename_axis("key").reset_index())
    joined = left.join(right.with_columns(pl.col("key").cast(pl.Utf8)), on="key", how="left", maintain_order="left")
    return pd.DataFrame({c: joined[c].cast(pl.Float64).to_numpy() for c in table.columns})


def _months(dates: pd.Series) -> np.ndarray:
    stamps = pd.to_datetime(dates)
    return (stamps.dt.year * 12 + stamps.dt.month - 1).to_numpy()


def peer_reference(keys: pd.Series, values: pd.Series, dates: pd.Series, window: int) -> np.ndarray:
    """Per row: the median of ``values`` over rows with the same key in the ``window`` months before its month.

    NaN where a key has no earlier peers. Cost is O(window x rows), bounded however long
    the history, and a drifting price level is followed rather than averaged away.
    """
    months = _months(dates)
    frame = pd.DataFrame({"key": keys.to_numpy(), "value": values.to_numpy(dtype=float)})
    out = np.full(len(frame), np.nan)
    for month in np.unique(months):
        earlier = (months < month) & (months >= month - window)
        if not earlier.any():
            continue
        medians = frame[earlier].groupby("key")["value"].median()
        now = months == month
        out[now] = medians.reindex(frame.loc[now, "key"]).to_numpy()
    return out


class AsOfFeature(ABC):
    """A feature family computed from earlier rows; see the module docstring for the two forms."""

    @abstractmethod
    def fit(self, frame: pd.DataFrame, labels: np.ndarray, dates: pd.Series) -> None:
        """Remember the state at the end of the fitted period."""

    @abstractmethod
    def past(self, frame: pd.DataFrame, labels: np.ndarray, dates: pd.Series) -> pd.DataFrame:
        """Features of training rows from strictly earlier rows only."""

    @abstractmethod
    def frozen(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Features of new rows against the state remembered by ``fit``."""


class HistoryFeature(AsOfFeature):
    """Count and smoothed positive rate of an actor's earlier labelled rows."""

    def __init__(self, spec: History) -> None:
        self.spec = spec
        self.prior = 0.0
        self.totals = pd.DataFrame(columns=["y", "known"])

    def _named(self, past: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({f"{self.spec.key} history count": past["count"].to_numpy(),
                             f"{self.spec.key} history rate": past["rate"].to_numpy()})

    def fit(self, frame: pd.DataFrame, labels: np.ndarray, dates: pd.Series) -> None:
        y = np.asarray(labels, dtype=float)
        self.prior = base_rate(y)
        rows = pd.DataFrame({"key": frame[self.spec.key].to_numpy(), "y": np.nan_to_num(y), "known": ~np.isnan(y)})
        self.totals = rows.groupby("key")[["y", "known"]].sum()

    def past(self, frame: pd.DataFrame, labels: np.ndarray, dates: pd.Series) -> pd.DataFrame:
        return self._named(history_features(frame[self.spec.key], dates, labels, past_base_rate(dates, labels),
                                            self.spec.strength))

    def frozen(self, frame: pd.DataFrame) -> pd.DataFrame:
        found = lookup(frame[self.spec.key], self.totals)
        return self._named(smoothed(found["y"].fillna(0).to_numpy(dtype=float),
                                    found["known"].fillna(0).to_numpy(dtype=float), self.prior, self.spec.strength))


class PeerFeature(AsOfFeature):
    """How far a row's log ratio (e.g. value per kg) sits from the median of its peers (same HS code)."""

    def __init__(self, name: str, spec: Peer) -> None:
        self.name, self.spec = name, spec
        self.medians = pd.Series(dtype=float)

    def _values(self, frame: pd.DataFrame) -> pd.Series:
        return log_ratio(frame, self.spec.numerator, self.spec.denominator)

    def fit(self, frame: pd.DataFrame, labels: np.ndarray, dates: pd.Series) -> None:
        months = _months(dates)
        recent = months > months.max() - self.spec.window_months if len(months) else np.zeros(0, bool)
        values = self._values(frame)[recent]
        self.medians = values.groupby(frame[self.spec.by][recent].to_numpy()).median()

    def past(self, frame: pd.DataFrame, labels: np.ndarray, dates: pd.Series) -> pd.DataFrame:
        values = self._values(frame)
        reference = peer_reference(frame[self.spec.by], values, dates, self.spec.window_months)
        return pd.DataFrame({self.name: values.to_numpy() - reference})

    def frozen(self, frame: pd.DataFrame) -> pd.DataFrame:
        reference = lookup(frame[self.spec.by], self.medians.to_frame("median"))["median"].to_numpy()
        return pd.DataFrame({self.name: self._values(frame).to_numpy() - reference})
