"""Feature builders: raw checked rows in, a model-ready frame out.

A builder is chosen by name in the spec (``features.builder``); ``TabularFeatures``
covers code columns, code hierarchies, numeric transforms, ratios and actor history,
which is all the KCS data needs. A model over other data (e.g. lake declarations with
network features) adds a subclass that overrides ``extra_features`` and registers it in
``BUILDERS``; fitting, history and the train/score split of logic stay here.

Leakage rule: nothing a row sees may come from its own label or from rows dated the
same day or later. Training rows get history from strictly earlier dates
(``history_features``); rows scored later see the history frozen at fit time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench.errors import ConfigError
from workbench.risk.specs import FeatureSpec


def history_features(keys: pd.Series, dates: pd.Series, labels: np.ndarray, prior: float,
                     strength: float) -> pd.DataFrame:
    """Per row: how many rows with the same key came on earlier dates, and their smoothed label rate.

    Rows of the same date do not see each other (their outcomes are not known yet when
    they are lodged), and a row never sees its own label. The rate is shrunk towards
    ``prior`` with ``strength`` pseudo-rows, so a first-time actor gets the base rate.
    """
    frame = pd.DataFrame({"key": keys.to_numpy(), "date": pd.to_datetime(dates).to_numpy(),
                          "y": np.asarray(labels, dtype=float)})
    daily = frame.groupby(["key", "date"], sort=True, dropna=False)["y"].agg(["sum", "count"]).reset_index()
    grouped = daily.groupby("key", sort=False, dropna=False)
    daily["past_sum"] = grouped["sum"].cumsum() - daily["sum"]
    daily["past_n"] = grouped["count"].cumsum() - daily["count"]
    past = frame.merge(daily[["key", "date", "past_sum", "past_n"]], on=["key", "date"], how="left")
    return _smoothed(past["past_sum"].to_numpy(), past["past_n"].to_numpy(), prior, strength)


def _smoothed(sums: np.ndarray, counts: np.ndarray, prior: float, strength: float) -> pd.DataFrame:
    return pd.DataFrame({"count": np.log1p(counts), "rate": (sums + prior * strength) / (counts + strength)})


@dataclass
class _HistoryState:
    """Totals per key at the end of the fitted period: what later rows are scored against."""

    totals: pd.DataFrame
    prior: float
    strength: float

    def lookup(self, keys: pd.Series) -> pd.DataFrame:
        found = self.totals.reindex(keys.to_numpy())
        return _smoothed(found["sum"].fillna(0).to_numpy(), found["count"].fillna(0).to_numpy(),
                         self.prior, self.strength)


class FeatureBuilder:
    """Turns checked input rows into features. Subclasses add features via ``extra_features``."""

    def __init__(self, spec: FeatureSpec, date_column: str) -> None:
        self.spec = spec
        self.date_column = date_column
        self._history: dict[str, _HistoryState] = {}

    @property
    def categorical(self) -> list[str]:
        """Output columns that hold codes (estimators encode them as categories or one-hot)."""
        prefixed = [prefix_name(p.column, n) for p in self.spec.prefixes for n in p.lengths]
        return [*self.spec.categorical, *prefixed]

    def fit(self, frame: pd.DataFrame, labels: np.ndarray) -> FeatureBuilder:
        """Remember what scoring needs from the training period (history totals, base rate)."""
        y = np.asarray(labels, dtype=float)
        prior = float(y.mean()) if len(y) else 0.0
        for h in self.spec.history:
            totals = pd.DataFrame({"key": frame[h.key].to_numpy(), "y": y}).groupby("key")["y"].agg(["sum", "count"])
            self._history[h.key] = _HistoryState(totals, prior, h.strength)
        return self

    def training_features(self, frame: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
        """Features of the rows the model learns from; history comes only from earlier dates."""
        out = self._base(frame)
        prior = float(np.mean(labels)) if len(labels) else 0.0
        for h in self.spec.history:
            past = history_features(frame[h.key], frame[self.date_column], labels, prior, h.strength)
            self._add_history(out, h.key, past)
        return out

    def features(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Features of new rows, scored against the history frozen at ``fit``."""
        out = self._base(frame)
        for h in self.spec.history:
            self._add_history(out, h.key, self._history[h.key].lookup(frame[h.key]))
        return out

    def extra_features(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Hook for data-specific features computed row by row from the input (none here)."""
        return pd.DataFrame(index=frame.index)

    def _base(self, frame: pd.DataFrame) -> pd.DataFrame:
        cols: dict[str, pd.Series] = {}
        for c in self.spec.categorical:
            cols[c] = frame[c].astype("string")
        for p in self.spec.prefixes:
            codes = frame[p.column].astype("string").str.zfill(p.width)
            for n in p.lengths:
                cols[prefix_name(p.column, n)] = codes.str.slice(0, n)
        for c, how in self.spec.numeric.items():
            values = frame[c].astype(float)
            cols[c] = np.log1p(values.clip(lower=0)) if how == "log" else values
        for name, r in self.spec.ratios.items():
            num, den = (frame[c].astype(float).clip(lower=0) for c in (r.numerator, r.denominator))
            cols[name] = np.log1p(num) - np.log1p(den)
        out = pd.DataFrame(cols, index=frame.index)
        return pd.concat([out, self.extra_features(frame)], axis=1)

    @staticmethod
    def _add_history(out: pd.DataFrame, key: str, past: pd.DataFrame) -> None:
        out[f"{key} history count"] = past["count"].to_numpy()
        out[f"{key} history rate"] = past["rate"].to_numpy()


def prefix_name(column: str, length: int) -> str:
    """Name of a code-prefix feature, e.g. ``HS10 Code[:6]``."""
    return f"{column}[:{length}]"


BUILDERS: dict[str, type[FeatureBuilder]] = {"tabular": FeatureBuilder}
"""Feature builders by the name a spec's ``features.builder`` uses."""


def make_builder(spec: FeatureSpec, date_column: str) -> FeatureBuilder:
    """The builder a spec asks for; an unknown name is a config error listing the known ones."""
    try:
        cls = BUILDERS[spec.builder]
    except KeyError:
        raise ConfigError(f"features.builder: unknown builder {spec.builder!r} (known: {', '.join(BUILDERS)})") from None
    return cls(spec, date_column)
