"""Running model calls: the engine, rate limits, the journal, call counting and the executors."""

from .executor import Executor, LocalExecutor
from .executors import build_executor, check_executor

__all__ = ["Executor", "LocalExecutor", "build_executor", "check_executor"]
