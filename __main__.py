"""Entry point Pulumi runs; all logic lives in components/ and spec/."""

from components.program import main, tune_runtime

tune_runtime()
main()
