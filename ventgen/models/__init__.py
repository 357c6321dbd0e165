"""The HTVAE model and its baselines (torch). Never opens files: ``HTVAE.save``/``load`` hand their
checkpoint dict to :mod:`ventgen.io.checkpoint`."""
