"""MQTT listener throughput: X.509 connects/s, connect latency and telemetry msgs/s, against a baseline.

Two servers, measured with the same asyncio client in the same run:

* emulator  — the real emulator process (`--mqtt-port 0`): TLS with client certificates, then the
              full IoT Hub decision per CONNECT (hub lookup, registry, ADR revocation id, chain
              verification with `cryptography`), connection-state writes, telemetry counting;
* baseline  — the same listener code (TLS, codec, session loop) with an endpoint that accepts every
              CONNECT and ignores every publish: what TLS + MQTT framing cost without our auth.

Devices are provisioned over HTTPS with a CSR (ADR-issued P-384 chains). Every connect is a fresh
TCP + TLS 1.3 handshake presenting leaf + issuing CA, then CONNECT -> CONNACK, then DISCONNECT.
Telemetry: `--concurrency` connections each pipeline `--messages` QoS 1 publishes and read the PUBACKs.

Usage: .venv/bin/python bench/mqtt_connect.py [--devices 200] [--concurrency 16] [--messages 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import ROOT, summary  # noqa: F401  (ROOT puts the project on sys.path)
from amqtt.mqtt.connect import ConnectPacket, ConnectPayload, ConnectVariableHeader
from amqtt.mqtt.publish import PublishPacket

DISCONNECT = b"\xe0\x00"


# ---- the baseline server (runs in a child process) --------------------------------------------------------
class _AcceptAll:
    """An endpoint with no checks at all: the codec-only baseline."""

    persistent = False

    def __init__(self, client_id: str) -> None:
        self.key = ("bench", client_id)

    async def authenticate(self) -> None:
        return None

    def may_subscribe(self, _topic_filter: str) -> bool:
        return True

    def classify_publish(self, _topic: str) -> str:
        return "telemetry"

    async def on_publish(self, _kind: str, _topic: str, _payload: bytes) -> None:
        return None

    async def on_connected(self) -> None:
        return None

    async def on_closed(self) -> None:
        return None


def serve_baseline(trust_pem_file: str) -> None:
    from provider.devca import ensure_tls_files
    from provider.mqtt.server import MqttServer
    from provider.tls import ServerTls

    class Baseline(MqttServer):
        def make_endpoint(self, conn, username, client_id, password):  # noqa: ANN001, ANN201
            return _AcceptAll(client_id)

    files = ensure_tls_files(None, "localhost", "localhost")
    tls = ServerTls(str(files.cert_pem), str(files.key_pem))
    trusted = Path(trust_pem_file).read_text()
    tls.add_trust_source(lambda: [trusted])
    server = Baseline(emu=None, tls=tls)
    port = server.bind("127.0.0.1", 0)
    print("ready", port, files.ca_pem, flush=True)
    server.serve_forever()


# ---- the client -------------------------------------------------------------------------------------------
def connect_bytes(client_id: str, username: str) -> bytes:
    header = ConnectVariableHeader(keep_alive=60)
    header.username_flag = True
    header.clean_session_flag = True
    return ConnectPacket(variable_header=header, payload=ConnectPayload(client_id, username=username)).to_bytes()


def client_context(ca_file: str, cert: tuple[str, str]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.load_cert_chain(*cert)
    return ctx


async def one_connect(port: int, ctx: ssl.SSLContext, packet: bytes) -> float:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost")
    writer.write(packet)
    connack = await reader.readexactly(4)
    elapsed = time.perf_counter() - started
    if connack[3] != 0:
        raise RuntimeError(f"CONNACK {connack[3]}")
    writer.write(DISCONNECT)
    writer.close()
    return elapsed


async def connects(port: int, jobs: list[tuple[ssl.SSLContext, bytes]], concurrency: int) -> dict[str, float]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def run(ctx: ssl.SSLContext, packet: bytes) -> None:
        async with gate:
            latencies.append(await one_connect(port, ctx, packet))

    started = time.perf_counter()
    await asyncio.gather(*(run(ctx, packet) for ctx, packet in jobs))
    return summary(latencies, time.perf_counter() - started)


async def telemetry(port: int, jobs: list[tuple[ssl.SSLContext, bytes, str]], messages: int) -> float:
    async def run(ctx: ssl.SSLContext, packet: bytes, topic: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost")
        writer.write(packet)
        assert (await reader.readexactly(4))[3] == 0
        writer.write(b"".join(PublishPacket.build(topic, b'{"t": 21.5}', i + 1, False, 1, False).to_bytes()
                              for i in range(messages)))
        await reader.readexactly(4 * messages)  # one PUBACK per message
        writer.write(DISCONNECT)
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(run(*job) for job in jobs))
    return len(jobs) * messages / (time.perf_counter() - started)


def measure(port: int, ca_file: str, devices: list[tuple[str, str, tuple[str, str]]], concurrency: int,
            messages: int) -> tuple[dict[str, float], float]:
    contexts = [client_context(ca_file, cert) for _, _, cert in devices]
    jobs = [(ctx, connect_bytes(device_id, username)) for ctx, (device_id, username, _) in zip(contexts, devices,
                                                                                               strict=True)]
    asyncio.run(connects(port, jobs[: min(16, len(jobs))], concurrency))  # warm-up
    connect_stats = asyncio.run(connects(port, jobs, concurrency))
    sends = [(ctx, packet, f"devices/{device_id}/messages/events/")
             for (ctx, packet), (device_id, _, _) in zip(jobs[:concurrency], devices, strict=False)]
    rate = asyncio.run(telemetry(port, sends, messages))
    return connect_stats, rate


# ---- main -------------------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--serve-baseline", metavar="TRUST_PEM")
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline)
        return 0

    from tests.support.emulator_process import Arm, EmulatorProcess
    from tests.support.mqtt_devices import HUB_MQTT_API, make_setup

    tmp = Path(tempfile.mkdtemp(prefix="bench-mqtt-"))
    with EmulatorProcess("--mqtt-port", "0") as proc:
        setup = make_setup(proc, Arm(proc.http), tmp)
        ids = [f"bench-{i:04d}" for i in range(args.devices)]
        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            certs = list(pool.map(setup.provision_https, ids))
        print(f"provisioned {len(ids)} devices over HTTPS with CSRs in {time.perf_counter() - started:.1f} s")
        devices = [(d, f"{setup.env.hub_host}/{d}/?api-version={HUB_MQTT_API}", cert)
                   for d, cert in zip(ids, certs, strict=True)]
        trust = tmp / "trust.pem"
        trust.write_text(setup.env.ica_pem + setup.env.root_pem)
        baseline = subprocess.Popen([sys.executable, __file__, "--serve-baseline", str(trust)],
                                    stdout=subprocess.PIPE, text=True, cwd=str(ROOT))
        try:
            _, base_port, base_ca = baseline.stdout.readline().split()
            base_connect, base_rate = measure(int(base_port), base_ca, devices, args.concurrency, args.messages)
            emu_connect, emu_rate = measure(proc.mqtt_port, setup.env.ca_file, devices, args.concurrency,
                                            args.messages)
            counted = sum(setup.telemetry(d)["count"] for d, _, _ in devices[: args.concurrency])
        finally:
            baseline.terminate()
            baseline.wait(10)
    expected = args.concurrency * args.messages
    assert counted == expected, f"the emulator counted {counted} of {expected} messages"
    rows = [("X.509 connects/s", "rate", "{:.0f}"), ("connect p50 ms", "p50_ms", "{:.1f}"),
            ("connect p99 ms", "p99_ms", "{:.1f}")]
    print(f"\n{args.devices} devices, {args.concurrency} concurrent; telemetry {args.concurrency} x {args.messages}"
          " QoS 1 messages")
    print(f"{'':22}{'emulator':>12}{'baseline':>12}{'ratio':>10}")
    for label, key, fmt in rows:
        print(f"{label:22}{fmt.format(emu_connect[key]):>12}{fmt.format(base_connect[key]):>12}"
              f"{emu_connect[key] / base_connect[key]:>10.2f}")
    print(f"{'telemetry msgs/s':22}{emu_rate:>12.0f}{base_rate:>12.0f}{emu_rate / base_rate:>10.2f}")
    print(json.dumps({"emulator": {**emu_connect, "telemetry_rate": emu_rate},
                      "baseline": {**base_connect, "telemetry_rate": base_rate}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
