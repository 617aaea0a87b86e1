"""Test support shared by the tests/test_*.py modules (no tests here): spec builders, PKI under the
mocks, fakes, Kubernetes object helpers and the real-tool runners. Test modules import from here,
never from one another."""
