"""TPM attestation over MQTT with a real swtpm (an emulator extension: Azure offers TPM over HTTPS and
AMQP). Round 1 connects with no credential and gets the challenge; round 2 connects with the SAS the
TPM signs, registers with a CSR, and the issued chain then connects to the hub over MQTT."""

from __future__ import annotations

import json

import pytest

from tests.support.swtpm import require_tpm_stack, running_swtpm

require_tpm_stack()

from provider.dps.sas import signed_sas  # noqa: E402
from provider.tpm_device import open_device_tpm  # noqa: E402
from tests.support.dps_helpers import chain_from, csr_b64, openssl_verify, unique, write_client_files  # noqa: E402
from tests.support.emulator_process import Arm, EmulatorProcess  # noqa: E402
from tests.support.mqtt_devices import DPS_MQTT_API, NOT_AUTHORISED, Device, make_setup  # noqa: E402

pytestmark = pytest.mark.process
RESPONSES = "$dps/registrations/res/"


def _dps_device(setup, registration_id: str, password: str | None) -> Device:
    return Device(setup.port, setup.env.ca_file, registration_id,
                  f"{setup.env.id_scope}/registrations/{registration_id}/api-version={DPS_MQTT_API}&ClientVersion=t",
                  password)


def test_tpm_registration_over_mqtt_then_the_hub(tmp_path):
    with EmulatorProcess("--mqtt-port", "0") as emulator, running_swtpm(tmp_path / "tpm") as tcti:
        setup = make_setup(emulator, Arm(emulator.http), tmp_path)
        device = open_device_tpm(tcti)
        reg = unique("mqtpm-")
        keys = {"endorsementKey": device.endorsement_key_b64, "storageRootKey": device.storage_root_key_b64}
        # no enrollment yet: a connection without credential is refused
        assert _dps_device(setup, reg, None).connect() == NOT_AUTHORISED
        setup.env.put_enrollment({"registrationId": reg, "credentialPolicyName": "default",
                                  "attestation": {"type": "tpm", "tpm": {"endorsementKey": keys["endorsementKey"]}}})
        first = _dps_device(setup, reg, None)
        assert first.connect() == 0
        try:
            assert first.subscribe(RESPONSES + "#") == [1]
            status, _, payload = first.request("$dps/registrations/PUT/iotdps-register/",
                                               json.dumps({"registrationId": reg, "tpm": keys}), RESPONSES)
        finally:
            first.close()
        assert status == 401, payload
        key = device.import_challenge(json.loads(payload)["authenticationKey"])
        token = signed_sas(f"{setup.env.id_scope}/registrations/{reg}", lambda data: device.hmac(key, data))
        device.esapi.flush_context(key)
        second = _dps_device(setup, reg, token)
        assert second.connect() == 0
        try:
            assert second.subscribe(RESPONSES + "#") == [1]
            private, csr = csr_b64(reg)
            status, _, payload = second.request("$dps/registrations/PUT/iotdps-register/",
                                                json.dumps({"registrationId": reg, "tpm": keys, "csr": csr}), RESPONSES)
            assert status == 202, payload
            status, _, payload = second.request(
                f"$dps/registrations/GET/iotdps-get-operationstatus/?operationId={json.loads(payload)['operationId']}",
                " ", RESPONSES)
        finally:
            second.close()
        assert status == 200, payload
        result = json.loads(payload)
        assert result["registrationState"]["tpm"]["authenticationKey"]
        chain = chain_from(result)
        assert openssl_verify(setup.env.root_pem, setup.env.ica_pem, chain[0]).returncode == 0
        hub = setup.hub_device(reg, write_client_files(tmp_path, reg, private, chain))
        assert hub.connect() == 0
        hub.close()
        device.close()
