"""Signal processing: numpy/scipy/pandas only, never torch."""
