"""`sharkapi batch`: many prompts, a crash-safe journal, and resume without resubmitting.

The plan and the runner, apart from the command line (no click here), one concern per
module: `_batch_file` reads and checks the file (streaming), `_batch_plan` makes the
first pass (every line checked before anything is paid, and what earlier runs did),
`_batch_run` the second (on `AsyncSharkAPI.iter_generate`), `_batch_progress` shows it.
Neither pass holds the file, a task per line or a record per finished line, so memory
does not grow with the number of lines.
"""

from __future__ import annotations

from ._batch_file import (
    BatchError,
    BatchFileError,
    BatchRequest,
    iter_batch_file,
    parse_batch_file,
    read_batch_file,
    validate_requests,
)
from ._batch_plan import (
    BatchOptions,
    BatchPlan,
    BatchResult,
    adopt_jobs,
    batch_stamp,
    plan_batch,
)
from ._batch_run import run_batch

__all__ = [
    "BatchError",
    "BatchFileError",
    "BatchOptions",
    "BatchPlan",
    "BatchRequest",
    "BatchResult",
    "adopt_jobs",
    "batch_stamp",
    "iter_batch_file",
    "parse_batch_file",
    "plan_batch",
    "read_batch_file",
    "run_batch",
    "validate_requests",
]
