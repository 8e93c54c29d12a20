"""Resource types over ARM: Device Registry namespaces and PKI resources, IoT hubs, DPS, identities, roles."""
