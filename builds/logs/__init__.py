"""A build's log: shaping lines (messages), storing them (store), publishing them live (publish),
and collecting a running build's output (sink)."""
