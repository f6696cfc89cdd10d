"""The live log stream over WebSocket: the consumer (thin), its cursor (pure), the transport probe."""
