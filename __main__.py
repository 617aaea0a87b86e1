"""Entry point Pulumi runs; all logic lives in components/ and spec/."""

import gc

from components.program import main

# A large stack makes hundreds of thousands of long-lived objects; the default GC thresholds
# rescan them over and over (bench/README.md: 28-36% of evaluation time).
gc.freeze()
gc.set_threshold(100_000, 20, 100)

main()
