"""The journey engine's use cases: definitions (create, version, pause, resume, archive),
intake (events enrol people, end them, convert them), the step runner, the
dispatcher's fan-out over due shards, and the stats with the holdout lift."""
