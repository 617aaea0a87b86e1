"""The Pulumi program run under faithful mocks (a tls mock that issues real certificates, random
and kubernetes mocks), every registration recorded: what the unit tests check the graph with and
what `make bench` measures the program's own cost with. No engine, no host."""
