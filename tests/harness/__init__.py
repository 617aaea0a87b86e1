"""Test-only helpers: a fake toolchain for the lab stack (lab_fakes) and the real Pulumi CLI on a
throw-away stack (pulumi_cli). The program under mocks is mockrun/, which the bench uses too."""
