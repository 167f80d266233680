"""The follow-up papers' evaluation protocol over a test set: results, scores, reports (no Lightning)."""

from sttn_lightning.evaluation.report import PUBLISHED, results_table, write_report
from sttn_lightning.evaluation.runner import EvaluationError, FolderResults, GeneratorResults, evaluate_dataset
from sttn_lightning.evaluation.scoring import DatasetScores, VideoScorer, VideoScores

__all__ = [
    "PUBLISHED",
    "DatasetScores",
    "EvaluationError",
    "FolderResults",
    "GeneratorResults",
    "VideoScorer",
    "VideoScores",
    "evaluate_dataset",
    "results_table",
    "write_report",
]
