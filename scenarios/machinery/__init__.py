"""What every job runs on: tasks and their runners (`tasks`), stage and result files (`results`),
content keys (`content`), the chunked evsim runs (`simulation`), the model tasks (`model_tasks`),
an ANN's accuracy (`accuracy`), a job's life and its result file's lock (`job`, `lock`), the
figures' shared helpers (`plotting`) and a comparison of two result files (`compare`)."""
