"""adr-emulator: a local emulator of Azure Device Registry certificate management, IoT Hub and DPS."""

__version__ = "0.1.0"
