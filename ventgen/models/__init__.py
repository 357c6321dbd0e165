"""The HTVAE model and its baselines (torch). Never opens files."""
