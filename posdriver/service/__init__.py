"""The daemon: device workers, health checks, metrics, the local API, systemd."""
