"""The follow-up papers' evaluation protocol over a test set: results, scores, reports (no Lightning)."""

from sttn_lightning.evaluation.report import PUBLISHED, results_table, write_report
from sttn_lightning.evaluation.runner import (
    EvaluationError,
    FolderResults,
    GeneratorResults,
    evaluate_dataset,
    working_holes,
)
from sttn_lightning.evaluation.scoring import DatasetScores, VideoScores, score_video

__all__ = [
    "PUBLISHED",
    "DatasetScores",
    "EvaluationError",
    "FolderResults",
    "GeneratorResults",
    "VideoScores",
    "evaluate_dataset",
    "results_table",
    "score_video",
    "working_holes",
    "write_report",
]
