"""Pure render functions: spec -> files, units, scripts and manifests as data. No Pulumi here."""
