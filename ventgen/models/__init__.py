"""The HTVAE model and its baselines (torch). Never opens files (except ``HTVAE.save``/``load``, which
hand the caller's path to ``torch.save``/``torch.load``)."""
