"""Feature builders: raw checked rows in, a model-ready frame out.

A builder is chosen by name in the spec (``features.builder``); ``TabularFeatures``
covers code columns, code hierarchies and combinations, numeric transforms, ratios,
timing, actor history, peer comparisons and (when the evidence graph is built) network
features, which is all the KCS data and the lake declarations and crossings need. A model
over other data adds a subclass that overrides ``extra_features`` and registers it in
``BUILDERS``; fitting, history and the train/score split of logic stay here.

Leakage rule: nothing a row sees may come from its own label or from rows dated the
same day or later. Training rows get history and peer medians from strictly earlier
dates (``workbench.risk.asof``); rows scored later see the state frozen at fit time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.errors import ConfigError
from workbench.risk.asof import AsOfFeature, HistoryFeature, PeerFeature, history_features, log_ratio
from workbench.risk.network import NetworkFeature, NetworkSnapshots
from workbench.risk.specs import FeatureSpec

__all__ = ["BUILDERS", "FeatureBuilder", "history_features", "make_builder", "prefix_name"]


class FeatureBuilder:
    """Turns checked input rows into features. Subclasses add features via ``extra_features``."""

    def __init__(self, spec: FeatureSpec, date_column: str, network: NetworkSnapshots | None = None) -> None:
        """``network``: graph snapshots for ``spec.network`` (``risk.network``); without them no network feature."""
        self.spec = spec
        self.date_column = date_column
        self.asof: list[AsOfFeature] = [*(HistoryFeature(h) for h in spec.history),
                                        *(PeerFeature(name, p) for name, p in spec.peers.items())]
        if spec.network is not None and network is not None:
            self.asof.append(NetworkFeature(spec.network, network))

    @property
    def categorical(self) -> list[str]:
        """Output columns that hold codes (estimators encode them as categories or one-hot)."""
        prefixed = [prefix_name(p.column, n) for p in self.spec.prefixes for n in p.lengths]
        return [*self.spec.categorical, *prefixed, *self.spec.combos]

    def fit(self, frame: pd.DataFrame, labels: np.ndarray) -> FeatureBuilder:
        """Remember what scoring needs from the training period (history totals, peer medians)."""
        for feature in self.asof:
            feature.fit(frame, labels, frame[self.date_column])
        return self

    def training_features(self, frame: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
        """Features of the rows the model learns from; history and peers come only from earlier dates.

        ``labels`` may hold NaN for rows whose outcome is unknown: they get features (and
        feed peer medians) but add nothing to anyone's history.
        """
        dates = frame[self.date_column]
        return self._with(self._base(frame), [f.past(frame, labels, dates) for f in self.asof])

    def features(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Features of new rows, scored against the history and peers frozen at ``fit``."""
        return self._with(self._base(frame), [f.frozen(frame) for f in self.asof])

    def extra_features(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Hook for data-specific features computed row by row from the input (none here)."""
        return pd.DataFrame(index=frame.index)

    @staticmethod
    def _with(base: pd.DataFrame, parts: list[pd.DataFrame]) -> pd.DataFrame:
        return pd.concat([base, *(p.set_axis(base.index) for p in parts)], axis=1)

    def _base(self, frame: pd.DataFrame) -> pd.DataFrame:
        cols: dict[str, pd.Series] = {}
        for c in self.spec.categorical:
            cols[c] = frame[c].astype("string")
        for p in self.spec.prefixes:
            codes = frame[p.column].astype("string").str.zfill(p.width)
            for n in p.lengths:
                cols[prefix_name(p.column, n)] = codes.str.slice(0, n)
        for name, parts in self.spec.combos.items():
            joined = frame[parts[0]].astype("string").fillna("")
            for c in parts[1:]:
                joined = joined + "|" + frame[c].astype("string").fillna("")
            cols[name] = joined
        for c, how in self.spec.numeric.items():
            values = frame[c].astype(float)
            cols[c] = np.log1p(values.clip(lower=0)) if how == "log" else values
        for name, r in self.spec.ratios.items():
            cols[name] = log_ratio(frame, r.numerator, r.denominator)
        if self.spec.timing:
            stamps = pd.to_datetime(frame[self.date_column])
            for part in self.spec.timing:
                cols[part] = (stamps.dt.day_of_week if part == "weekday" else stamps.dt.hour).astype(float)
        out = pd.DataFrame(cols, index=frame.index)
        return pd.concat([out, self.extra_features(frame)], axis=1)


def prefix_name(column: str, length: int) -> str:
    """Name of a code-prefix feature, e.g. ``HS10 Code[:6]``."""
    return f"{column}[:{length}]"


BUILDERS: dict[str, type[FeatureBuilder]] = {"tabular": FeatureBuilder}
"""Feature builders by the name a spec's ``features.builder`` uses."""


def make_builder(spec: FeatureSpec, date_column: str, network: NetworkSnapshots | None = None) -> FeatureBuilder:
    """The builder a spec asks for; an unknown name is a config error listing the known ones."""
    try:
        cls = BUILDERS[spec.builder]
    except KeyError:
        raise ConfigError(f"features.builder: unknown builder {spec.builder!r} (known: {', '.join(BUILDERS)})") from None
    return cls(spec, date_column, network)
