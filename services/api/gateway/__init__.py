"""Between the API and the writer: submissions handed to Kafka and their verdicts awaited
(`submissions.SubmissionGateway`), what POST /v1/events and its preview do with a body
(`submitting`), a contract's accepted events read from the log, the writer's progress."""
