"""Entry point Pulumi runs; all logic lives in components/ and spec/."""

from components.program import main, trim_stack_traces, tune_gc
from components.sdk_runtime import gather_outstanding_outputs, quiet_sdk_debug

tune_gc()
trim_stack_traces()
quiet_sdk_debug()
gather_outstanding_outputs()
main()
