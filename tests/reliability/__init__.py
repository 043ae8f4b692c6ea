"""Reliability soak: the invite flow under queue redelivery, injected faults and crashes."""
