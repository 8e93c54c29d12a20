"""Start-up: open the store, build the app, bind every listener, print one line per endpoint.

Each endpoint line is printed (and flushed) as soon as its listener is bound, and serving starts
only after the last line, so a script that waits for `/_emulator/health` finds every URL already
in the log. A listener that cannot bind ends the process with status 1 and one line naming it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from flask import Flask

from provider.app import create_app
from provider.config import Config
from provider.devca import ensure_tls_files
from provider.keystore.base import KeyStoreError
from provider.server import ListenError, Servers
from provider.state import Emulator
from provider.tls import ServerTls

log = logging.getLogger("adr_emulator")

EXIT_LISTEN_FAILED = 1
EXIT_KEYSTORE_FAILED = 2


def _announce(name: str, value: str) -> None:
    print(f"{name:26} {value}", flush=True)


def serve(config: Config) -> int:
    if config.host not in ("127.0.0.1", "localhost", "::1") and not config.host.startswith("127."):
        log.warning("binding to %s: the emulator is meant for loopback use", config.host)
    emu = Emulator(config)
    if config.keystore != "soft":  # a hardware key store is checked at start-up: a wrong PIN should not wait
        try:
            emu.keystore.list_keys()
        except KeyStoreError as exc:
            print(f"adr-emulator: cannot open the {config.keystore} key store: {exc}", file=sys.stderr)
            return EXIT_KEYSTORE_FAILED
    app = create_app(emulator=emu)
    servers = Servers()
    try:
        bind_listeners(emu, app, servers, _announce)
    except ListenError as exc:
        servers.stop()  # cheroot's prepared servers hold worker threads that would keep the process alive
        print(f"adr-emulator: {exc}", file=sys.stderr, flush=True)
        emu.store.close()
        return EXIT_LISTEN_FAILED
    servers.start()
    servers.wait()
    emu.store.close()
    return 0


def bind_listeners(emu: Emulator, app: Flask, servers: Servers, announce: Callable[[str, str], None]) -> None:
    """Bind HTTP, HTTPS and the data-plane listeners in turn, announcing each endpoint once bound."""
    config = emu.config
    http_port = servers.add_wsgi(app, config.host, config.port, "--port")
    emu.listeners["arm-http"] = f"http://{config.public_host}:{http_port}"
    announce("ARM (HTTP)", emu.listeners["arm-http"])

    tls = None
    if config.https_port >= 0:
        if config.cert and config.key:
            cert_file, key_file = str(config.cert), str(config.key)
        else:
            files = ensure_tls_files(None if config.in_memory else config.data_dir, config.public_host,
                                     config.hostname_suffix)
            cert_file, key_file = str(files.cert_pem), str(files.key_pem)
            emu.dev_ca_pem = files.ca_pem.read_text()
        tls = ServerTls(cert_file, key_file, generation=lambda: emu.store.generation)
        for source in emu.hooks.trust_sources:
            tls.add_trust_source(source)
        https_port = servers.add_wsgi(app, config.host, config.https_port, "--https-port", tls=tls)
        emu.listeners["arm-https"] = https = f"https://{config.public_host}:{https_port}"
        for name in ("ARM (HTTPS)", "DPS device + service API", "IoT Hub service API"):
            announce(name, https)

    _bind_mqtt(emu, servers, tls)
    for name, key in (("MQTT (DPS + IoT Hub)", "mqtt"), ("MQTT over WebSockets", "mqtt-ws")):
        if key in emu.listeners:
            announce(name, emu.listeners[key])
    announce("Health", emu.listeners["arm-http"] + "/_emulator/health")
    announce("Data", "in memory" if config.in_memory else str(config.database_path))


def _bind_mqtt(emu: Emulator, servers: Servers, tls: ServerTls | None) -> None:
    """The MQTT listener (TLS, and WebSockets when asked): bound now, served once servers start."""
    config = emu.config
    if config.mqtt_port < 0 and config.mqtt_ws_port < 0:
        return
    if tls is None:
        log.warning("MQTT needs TLS, which is disabled (--https-port -1); MQTT is not served")
        return
    from provider.mqtt.server import MqttServer  # lazy: the MQTT stack loads only when MQTT is served

    server = MqttServer(emu, tls)
    for flag, port, websocket, key, url in (
            ("--mqtt-port", config.mqtt_port, False, "mqtt", "mqtts://{host}:{port}"),
            ("--mqtt-ws-port", config.mqtt_ws_port, True, "mqtt-ws", "wss://{host}:{port}/$iothub/websocket")):
        if port < 0:
            continue
        try:
            bound = server.bind(config.host, port, websocket=websocket)
        except OSError as exc:
            raise ListenError(flag, config.host, port, exc) from None
        emu.listeners[key] = url.format(host=config.public_host, port=bound)
    emu.hub.mqtt_server = server
    servers.add_service(server.serve_forever, server.stop, "mqtt")
