"""Payment terminals (protocol-independent interface to come)."""
