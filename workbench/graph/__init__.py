"""Smuggling networks: entity resolution across systems, the evidence graph, analytics, detection."""
