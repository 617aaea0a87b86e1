"""Placeholder: the faithful pulumi-tls mock (issue 3) registers its handlers here."""
