"""Network features replay the evidence graph in time: no edge or case dated on or after a cutoff is seen.

A hand-made graph: trader T1 (entity E1) has a standing register phone, meets person E2
on 2024-01-10; E2 meets E3 on 2024-03-05; E3 becomes a known offender by a case opened on
2024-04-02. T2's entity is not in the graph.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from workbench.risk.network import NetworkFeature, NetworkSnapshots, feature_names, month_starts, replay
from workbench.risk.specs import Network

SPEC = Network(key="trader_id", hops=2)
DEGREE, COMPONENT, HOPS, NEAR = feature_names(SPEC)
EDGES = pd.DataFrame({"source": ["E1", "E1", "E2"], "target": ["phone:1", "E2", "E3"],
                      "first_seen": [None, date(2024, 1, 10), date(2024, 3, 5)]})
MEMBERS = pd.DataFrame({"key": ["T1", "T2"], "entity_id": ["E1", "E9"]})
OFFENDERS = pd.DataFrame({"entity_id": ["E3"], "since": [date(2024, 4, 2)]})
CUTOFFS = month_starts(date(2024, 1, 1), date(2024, 5, 31))


def table(edges: pd.DataFrame = EDGES, offenders: pd.DataFrame = OFFENDERS) -> pd.DataFrame:
    return replay(edges, MEMBERS, offenders, SPEC, CUTOFFS).set_index("cutoff")


def test_each_cutoff_sees_only_edges_and_cases_dated_before_it() -> None:
    snapshots = table()
    assert set(snapshots["key"]) == {"T1"}  # T2's entity is outside the graph: no row, features missing
    expected = {  # cutoff: (degree, component size, hops to offender, offenders within 2 hops), by hand
        "2024-01-01": (1, 2, 3, 0), "2024-02-01": (2, 3, 3, 0), "2024-03-01": (2, 3, 3, 0),
        "2024-04-01": (2, 4, 3, 0),  # E3 is linked but not yet an offender (case opened 2 April)
        "2024-05-01": (2, 4, 2, 1),
    }
    for cutoff, (degree, size, hops, near) in expected.items():
        row = snapshots.loc[pd.Timestamp(cutoff)]
        assert (row[DEGREE], row[COMPONENT], row[HOPS], row[NEAR]) == (degree, pytest.approx(np.log1p(size)), hops,
                                                                       near), cutoff


def test_later_edges_and_cases_do_not_change_earlier_rows_features() -> None:
    rows = pd.DataFrame({"trader_id": ["T1", "T1", "T2"],
                         "lodged_at": pd.to_datetime(["2024-04-20", "2024-05-03", "2024-04-20"])})
    later = pd.concat([EDGES, pd.DataFrame({"source": ["E1"], "target": ["E3"], "first_seen": [date(2024, 4, 10)]})])
    before = NetworkFeature(SPEC, NetworkSnapshots(SPEC, table().reset_index()))
    after = NetworkFeature(SPEC, NetworkSnapshots(SPEC, table(later).reset_index()))
    past_before = before.past(rows, np.zeros(3), rows["lodged_at"])
    past_after = after.past(rows, np.zeros(3), rows["lodged_at"])
    pd.testing.assert_frame_equal(past_before.iloc[[0, 2]], past_after.iloc[[0, 2]])  # April rows: as of 1 April
    assert past_after.loc[1, HOPS] == 1 and past_before.loc[1, HOPS] == 2  # a May row sees the April edge
    assert past_before.iloc[2].isna().all()
    before.fit(rows, np.zeros(3), pd.Series(pd.to_datetime(["2024-04-30"] * 3)))  # scoring: as of 1 May
    frozen = before.frozen(rows)
    assert frozen.loc[0, HOPS] == 2 and frozen.loc[0, NEAR] == 1 and frozen.iloc[2].isna().all()
    with pytest.raises(ValueError, match="2024-04-21"):  # training computes the fit cutoff; a missing one is a bug
        before.fit(rows, np.zeros(3), pd.Series(pd.to_datetime(["2024-04-20"] * 3)))
