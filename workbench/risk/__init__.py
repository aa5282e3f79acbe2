"""Risk models: declarative specs, features, training with baselines, evaluation, scoring, selection, monitoring."""

from workbench.risk.data import MissingColumns
from workbench.risk.evaluation import evaluate, reliability
from workbench.risk.model import RiskModel
from workbench.risk.monitoring import MonitoringReport, monitor
from workbench.risk.scoring import ScoringReport, TableScoringReport, score_file, score_table
from workbench.risk.selection import select, select_table
from workbench.risk.specs import ModelSpec, load_model_spec, parse_model_spec
from workbench.risk.training import TrainingRun, train

__all__ = ["MissingColumns", "ModelSpec", "MonitoringReport", "RiskModel", "ScoringReport", "TableScoringReport",
           "TrainingRun", "evaluate", "load_model_spec", "monitor", "parse_model_spec", "reliability", "score_file",
           "score_table", "select", "select_table", "train"]
