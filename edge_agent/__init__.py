"""edge-agent: a privacy-first doorbell camera agent and its crime-center counterpart."""

__version__ = "0.1.0"
