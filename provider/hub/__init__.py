"""The emulated IoT Hub data plane: identity registry, service API and device connections."""
