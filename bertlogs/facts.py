"""The vocabulary of training-log facts: what any training log is read into (one row per fact, see
`schema.FACT_SCHEMA`), whichever program wrote it. Parsers produce these kinds and keys; analysis reads
only these names, never a producer's own.

Each kind, its keys, and what a fact's `value` and `step` hold:

- CONFIG: the run's settings (value: the count). Keys NUM_EXAMPLES, BATCH_SIZE (examples per optimisation
  step, over all devices and accumulated micro-batches), NUM_STEPS, NUM_EPOCHS; DEVICE_BATCH_SIZE (examples per
  forward pass on one device), GRAD_ACCUM_STEPS, STEPS_PER_EPOCH, NUM_PARAMETERS (trainable), LOGGING_STEPS;
  the evaluation's own settings carry the prefix EVAL_PREFIX (`eval_num_examples`).
- MODEL: the model's shape, LAYERS and HIDDEN (value: the count).
- RATE: a progress reading: STEPS_PER_S or EXAMPLES_PER_S (value: the rate) averaged over the steps
  `step - steps_covered .. step`, where steps_covered is the STEPS_COVERED fact at the same step (every
  producer states it: TF1's StepCounterHook covers 100 steps, another logger its own interval). With the
  reading, where the producer states them: RUNTIME_S (the seconds those steps took) and TOTAL_FLOS (the
  floating-point operations they did, by the producer's estimate). A Hugging Face Trainer run has one reading
  over the whole training loop: its `train_runtime` (evaluations and saves inside the loop included),
  steps_covered = the run's steps.
- PROGRESS: a progress bar's redraw (tqdm), step: the steps done. BAR_STEPS_PER_S: the rate the bar shows,
  which while the bar runs is tqdm's exponential moving average of recent updates (smoothing 0.3), not a mean
  over a stated interval, so it is no RATE reading; the bar's closing redraw shows steps / elapsed.
  BAR_ELAPSED_S: the seconds since the bar started, as shown (whole seconds).
- LOSS: LOSS (value: one mini-batch's loss at `step`, or the mean since the previous logging step where the
  producer says so: the Hugging Face Trainer's `loss`), FINAL_STEP_LOSS, TRAIN_LOSS_MEAN (over the whole run),
  and what is logged with a loss: GRAD_NORM, LEARNING_RATE, EPOCH (the fractional epoch reached at `step`).
- EVAL: an evaluation's metrics (key: the metric's own name, such as EVAL_ACCURACY, EVAL_LOSS or
  EVAL_BATCH_LOSS, or `eval_matthews_correlation`, `eval_runtime`; EPOCH: the epoch evaluated; step: the global
  step evaluated). EVAL_SAVED is a second copy of the same results
  (TF1's `Saving dict` line), used only when no EVAL block was logged.
- CHECKPOINT: CHECKPOINT (value and step: the step saved).
- PHASE: TRAIN_START, TRAIN_END, EVAL_START, EVAL_END (value: unix seconds of the marker). Hugging Face
  Trainer: TRAIN_START at the end of its `***** Running training *****` block (where it starts the clock of
  `train_runtime`, before step 1), TRAIN_END at its `train_runtime` line (after the last step and any
  evaluation at it).
- ERROR: a failure: DIVERGED, OOM (value: the loss that diverged, else 1).
- NOTE: SKIPPED_TRAINING (training did not run).

`time` is unix seconds when the line had a clock (`clock` says which: UTC and LOCAL stamps of lines,
STEP_WALL_TIME where the writer stamped the step itself, as TensorBoard event files do: the best clock a run
has, preferred by analysis for the readings and the window), else null. In a binary file (a
TensorBoard event file) `line` is the record's number, 1 for the first.
"""

from __future__ import annotations

# clocks (the `clock` column)
UTC = "utc"
LOCAL = "local"
STEP_WALL_TIME = "step-wall-time"

# kinds
CONFIG = "config"
MODEL = "model"
RATE = "rate"
PROGRESS = "progress"
LOSS = "loss"
EVAL = "eval"
EVAL_SAVED = "eval_dict"
CHECKPOINT = "checkpoint"
PHASE = "phase"
ERROR = "error"
NOTE = "note"

# CONFIG keys
NUM_EXAMPLES = "num_examples"
BATCH_SIZE = "batch_size"
NUM_STEPS = "num_steps"
NUM_EPOCHS = "num_epochs"
DEVICE_BATCH_SIZE = "device_batch_size"
GRAD_ACCUM_STEPS = "grad_accum_steps"
STEPS_PER_EPOCH = "steps_per_epoch"
NUM_PARAMETERS = "num_parameters"
LOGGING_STEPS = "logging_steps"
EVAL_PREFIX = "eval_"

# MODEL keys
LAYERS = "layers"
HIDDEN = "hidden"

# RATE keys
STEPS_PER_S = "global_step/sec"
EXAMPLES_PER_S = "examples/sec"
STEPS_COVERED = "steps_covered"
RUNTIME_S = "runtime_s"
TOTAL_FLOS = "total_flos"

# PROGRESS keys
BAR_STEPS_PER_S = "bar_steps/sec"
BAR_ELAPSED_S = "bar_elapsed_s"

# LOSS keys (LOSS is also the key)
FINAL_STEP_LOSS = "final_step_loss"
TRAIN_LOSS_MEAN = "train_loss_mean"
GRAD_NORM = "grad_norm"
LEARNING_RATE = "learning_rate"
EPOCH = "epoch"  # also an EVAL key

# EVAL keys the summary reads
EVAL_ACCURACY = "eval_accuracy"
EVAL_LOSS = "eval_loss"
EVAL_BATCH_LOSS = "loss"  # mean of per-batch means (TF1's `loss` in an eval block)
GLOBAL_STEP = "global_step"

# PHASE keys
TRAIN_START = "train_start"
TRAIN_END = "train_end"
EVAL_START = "eval_start"
EVAL_END = "eval_end"

# ERROR keys
DIVERGED = "diverged"
OOM = "oom"

# NOTE keys
SKIPPED_TRAINING = "skipped_training"
