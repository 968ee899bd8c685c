"""The device daemon: the frame loop, the consent gate, the sealer, the share thread, the uplink, the request and
retention workers, and ``daemon`` which only builds and starts them in order."""
