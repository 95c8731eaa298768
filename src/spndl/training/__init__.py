"""Train one variant on one fold: the loop (train), its run folder (runfolder: resume,
restart, provenance, results), augmentation, the collector's pauses, the job's timings
and the run folder's lock. The pipeline's training jobs and `spndl train` start here;
nothing outside imports it but the CLI."""
