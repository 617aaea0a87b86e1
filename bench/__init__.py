"""Benchmarks of the Pulumi program under the mocks (and of the lab, when it can run): `make bench`."""
