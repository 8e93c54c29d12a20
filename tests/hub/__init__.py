"""The IoT Hub data plane: the service API and MQTT (devices, twins, methods, telemetry)."""
