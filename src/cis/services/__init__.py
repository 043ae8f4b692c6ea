"""The service layer: the invite flow, the reply flow and the producer, over the ports."""
