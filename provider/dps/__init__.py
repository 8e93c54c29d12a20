"""The emulated Device Provisioning Service data plane: service API, device registration, SAS.

Modules, one job each:

* `errors`       — DPS's error body (`ProvisioningServiceErrorDetails`) and the code catalogue;
* `sas`          — SharedAccessSignature tokens: parse, verify, generate (also used by the hub);
* `records`      — the SQLite tables: enrollments, groups, registration states, operations;
* `enrollments`  — the service API: validation, rendering, If-Match, query, bulk, registration states;
* `attestation`  — who the device is: symmetric key SAS or TLS client certificate;
* `allocation`   — which linked IoT hub a device goes to;
* `registration` — the transport-independent register / poll / status-lookup core (HTTPS and MQTT);
* `service`      — the Flask blueprint, routing by id scope, host name or SAS `sr`, and TLS trust.
"""
