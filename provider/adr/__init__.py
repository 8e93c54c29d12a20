"""Azure Device Registry: the id layout and the backend (`emu.adr`) that resource types and data planes share."""
