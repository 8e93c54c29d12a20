"""Runs inside the azure-iot-device 2.x venv (`.cache/sdk-venv`), not the project's venv.

The released Python device SDK pins paho-mqtt<2, so it cannot share the test venv. The test drives
this script with one JSON argument and reads one JSON line from stdout. Nothing from `provider`
is imported: this is device code, as a user would write it.

    {"action": "provision", "host", "scope", "registration_id", "key", "ca"}
    {"action": "hub-x509", "hub_host", "device_id", "cert_file", "key_file", "ca", "valid_from", "valid_until"}
    {"action": "hub-sas", "hub_host", "device_id", "key", "ca"}
"""

from __future__ import annotations

import json
import sys
import time


def provision(args: dict) -> dict:
    from azure.iot.device import ProvisioningDeviceClient

    client = ProvisioningDeviceClient.create_from_symmetric_key(
        provisioning_host=args["host"], registration_id=args["registration_id"], id_scope=args["scope"],
        symmetric_key=args["key"], server_verification_cert=args["ca"])
    started = time.time()
    result = client.register()
    state = result.registration_state
    return {"status": result.status, "assigned_hub": state.assigned_hub if state else None,
            "device_id": state.device_id if state else None, "seconds": round(time.time() - started, 2)}


def hub_x509(args: dict) -> dict:
    from azure.iot.device import X509, IoTHubDeviceClient, Message

    client = IoTHubDeviceClient.create_from_x509_certificate(
        x509=X509(cert_file=args["cert_file"], key_file=args["key_file"]), hostname=args["hub_host"],
        device_id=args["device_id"], server_verification_cert=args["ca"], gateway_hostname="localhost")
    client.connect()
    try:
        client.patch_twin_reported_properties(
            {"certificate": {"validFrom": args["valid_from"], "validUntil": args["valid_until"]}})
        message = Message(json.dumps({"temperature": 21.5}), content_encoding="utf-8",
                          content_type="application/json")
        message.custom_properties["source"] = "sdk"
        client.send_message(message)
        twin = client.get_twin()
    finally:
        client.shutdown()
    return {"reported": twin.get("reported")}


def hub_sas(args: dict) -> dict:
    from azure.iot.device import IoTHubDeviceClient

    client = IoTHubDeviceClient.create_from_symmetric_key(
        symmetric_key=args["key"], hostname=args["hub_host"], device_id=args["device_id"],
        server_verification_cert=args["ca"], gateway_hostname="localhost")
    client.connect()
    try:
        client.send_message("hello from a symmetric-key device")
    finally:
        client.shutdown()
    return {"sent": 1}


def hub_x509_refused(args: dict) -> dict:
    """Connect once with the X.509 chain, without the SDK's retries; report the refusal."""
    from azure.iot.device import X509, IoTHubDeviceClient

    client = IoTHubDeviceClient.create_from_x509_certificate(
        x509=X509(cert_file=args["cert_file"], key_file=args["key_file"]), hostname=args["hub_host"],
        device_id=args["device_id"], server_verification_cert=args["ca"], gateway_hostname="localhost",
        connection_retry=False)
    try:
        client.connect()
    except Exception as exc:  # the SDK's ConnectionFailedError / CredentialError: what we expect
        return {"refused": True, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        client.shutdown()
    return {"refused": False}


def main() -> int:
    args = json.loads(sys.argv[1])
    if args.get("ca_file"):
        with open(args["ca_file"]) as f:
            args["ca"] = f.read()
    action = {"provision": provision, "hub-x509": hub_x509, "hub-sas": hub_sas,
              "hub-x509-refused": hub_x509_refused}[args["action"]]
    try:
        print(json.dumps({"ok": True, **action(args)}), flush=True)
    except Exception as exc:  # report to the test instead of a traceback it has to parse
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}",
                          "cause": repr(getattr(exc, "__cause__", None))}), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
