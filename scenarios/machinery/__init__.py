"""What every job runs on: tasks and their runners, stage and result files, content keys."""
