"""The gateway's policy side: the routing hook's policy data, client keys and vendor detection."""
