"""Token store backends: the project database (encrypted) and the OS keyring."""
