"""Start-up: open the store, build the app, bind every listener, print one line per endpoint."""

from __future__ import annotations

import logging
import sys

from provider.config import Config

log = logging.getLogger("adr_emulator")


def serve(config: Config) -> int:
    from provider.app import create_app
    from provider.server import Servers
    from provider.state import Emulator

    if config.host not in ("127.0.0.1", "localhost", "::1") and not config.host.startswith("127."):
        log.warning("binding to %s: the emulator is meant for loopback use", config.host)
    emu = Emulator(config)
    if config.keystore != "soft":  # a hardware key store is checked at start-up: a wrong PIN should not wait
        from provider.keystore import KeyStoreError

        try:
            emu.keystore.list_keys()
        except KeyStoreError as exc:
            print(f"adr-emulator: cannot open the {config.keystore} key store: {exc}", file=sys.stderr)
            return 2
    app = create_app(emulator=emu)
    servers = Servers()
    try:
        http_port = servers.add_wsgi(app, config.host, config.port)
    except OSError as exc:
        print(f"adr-emulator: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 2
    emu.listeners["arm-http"] = f"http://{config.public_host}:{http_port}"

    tls = None
    if config.https_port >= 0:
        from provider.devca import ensure_tls_files
        from provider.tls import ServerTls

        if config.cert and config.key:
            cert_file, key_file = str(config.cert), str(config.key)
        else:
            files = ensure_tls_files(None if config.in_memory else config.data_dir, config.public_host,
                                     config.hostname_suffix)
            cert_file, key_file = str(files.cert_pem), str(files.key_pem)
            emu.extensions["dev_ca_pem"] = files.ca_pem.read_text()
        tls = ServerTls(cert_file, key_file, generation=lambda: emu.store.generation)
        for source in emu.extensions.get("trust_sources", []):
            tls.add_trust_source(source)
        emu.extensions["server_tls"] = tls
        try:
            https_port = servers.add_wsgi(app, config.host, config.https_port, tls=tls)
        except OSError as exc:
            print(f"adr-emulator: cannot listen on {config.host}:{config.https_port}: {exc}", file=sys.stderr)
            return 2
        emu.listeners["arm-https"] = f"https://{config.public_host}:{https_port}"

    for start_listener in emu.extensions.get("listeners", []):
        start_listener(emu, servers, tls)

    servers.start()
    lines = [
        ("ARM (HTTP)", emu.listeners["arm-http"]),
        ("ARM (HTTPS)", emu.listeners.get("arm-https")),
        ("DPS device + service API", emu.listeners.get("arm-https")),
        ("IoT Hub service API", emu.listeners.get("arm-https")),
        ("MQTT (DPS + IoT Hub)", emu.listeners.get("mqtt")),
        ("MQTT over WebSockets", emu.listeners.get("mqtt-ws")),
        ("Health", emu.listeners["arm-http"] + "/_emulator/health"),
    ]
    for name, url in lines:
        if url:
            print(f"{name:26} {url}", flush=True)
    print(f"{'Data':26} {'in memory' if config.in_memory else config.database_path}", flush=True)
    servers.wait()
    emu.store.close()
    return 0
