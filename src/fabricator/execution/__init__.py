"""Running model calls: the engine, rate limits, the journal, and the executors (local and Ray)."""

from .executor import Executor, LocalExecutor, build_executor, check_executor

__all__ = ["Executor", "LocalExecutor", "build_executor", "check_executor"]
