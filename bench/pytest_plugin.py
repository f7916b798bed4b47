"""pytest plugin entry point (registered under ``pytest11``); its fixtures arrive with the CI-gate work."""
