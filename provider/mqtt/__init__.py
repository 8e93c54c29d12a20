"""The emulator's MQTT 3.1.1 endpoint: DPS registration and IoT Hub device traffic on one address.

This is not a broker. Devices never receive each other's messages; every reply is produced by the
emulator for exactly one connection. Packets are framed and encoded with amqtt's codec classes
(`provider.mqtt.codec`); TLS, websockets, sessions and topic handling are ours.
"""
