"""Entry point Pulumi runs; all logic lives in components/ and spec/."""

from components.program import main, trim_stack_traces, tune_gc

tune_gc()
trim_stack_traces()
main()
