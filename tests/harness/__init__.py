"""Test harness: run the Pulumi program under faithful mocks and record the whole graph."""
