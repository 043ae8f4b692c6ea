"""AWS behaviour under load in front of moto, and the SQS event source that drives the handler."""
