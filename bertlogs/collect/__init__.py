"""`bertlogs collect`: a training run's log and GPU telemetry into a raw archive."""
