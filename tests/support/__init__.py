"""Reusable controllers for real services (nats-server, PostgreSQL, SMTP) used by integration tests."""

from .services import (
    ClusterOptions,
    NatsCluster,
    NatsServer,
    PostgresServer,
    ReceivedMail,
    SmtpRecorder,
    free_port,
    free_ports,
)

__all__ = [
    "ClusterOptions",
    "NatsCluster",
    "NatsServer",
    "PostgresServer",
    "ReceivedMail",
    "SmtpRecorder",
    "free_port",
    "free_ports",
]
