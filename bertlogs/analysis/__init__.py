"""One run's figures from its loaded files (`runs.RunFiles`): `analyze_run` composes the steps of `log`
(what the training log says), `samples` (the capture's samples on one clock), and `figures` (GPU figures
over a window)."""

from bertlogs.analysis.log import Prepared
from bertlogs.analysis.run import TRACE_POINTS, RunResult, analyze_run, error_result, prepared_facts

__all__ = ["TRACE_POINTS", "Prepared", "RunResult", "analyze_run", "error_result", "prepared_facts"]
