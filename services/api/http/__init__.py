"""The API's HTTP plumbing: who is asking (`auth`) and what they may see (`ownership`), bodies
and parameters read, the one error body, headers and limits, metrics, the OpenAPI document."""
