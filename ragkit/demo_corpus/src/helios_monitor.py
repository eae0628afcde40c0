"""Poll a Helios X2 inverter over Modbus TCP and write its readings to CSV.

The register map follows the Helios X2 Modbus specification, firmware 4.x.
"""

from __future__ import annotations

import csv
import dataclasses
import time
from pathlib import Path

# Holding registers (16-bit words) of the readings we poll.
REGISTERS = {
    "ac_power_w": 30775,
    "dc_voltage_v": 30771,
    "heat_sink_temp_c": 30953,
    "error_code": 30197,
}

ERROR_CODES = {
    1: "E01 DC insulation fault",
    4: "E04 grid undervoltage",
    7: "E07 grid overvoltage",
    12: "E12 overtemperature",
    19: "E19 battery communication lost",
}


@dataclasses.dataclass
class Reading:
    """One poll of the inverter."""

    timestamp: float
    ac_power_w: float
    dc_voltage_v: float
    heat_sink_temp_c: float
    error_code: int

    @property
    def error_text(self) -> str:
        return ERROR_CODES.get(self.error_code, "no error" if self.error_code == 0 else "unknown")


def efficiency(ac_power_w: float, dc_power_w: float) -> float:
    """Conversion efficiency in percent; 0 when there is no DC power."""
    if dc_power_w <= 0:
        return 0.0
    return 100.0 * ac_power_w / dc_power_w


def derating_factor(heat_sink_temp_c: float, start_c: float = 45.0, stop_c: float = 60.0) -> float:
    """Fraction of rated power allowed at a heat-sink temperature (linear derating above 45 °C)."""
    if heat_sink_temp_c <= start_c:
        return 1.0
    if heat_sink_temp_c >= stop_c:
        return 0.0
    return 1.0 - (heat_sink_temp_c - start_c) / (stop_c - start_c)


class HeliosClient:
    """Minimal read-only Modbus TCP client for the inverter (port 502)."""

    def __init__(self, host: str, port: int = 502, timeout: float = 3.0):
        self.host = host
        self.port = port
        self.timeout = timeout

    def read_register(self, address: int) -> int:
        """Read one holding register; the transport is left to a Modbus library."""
        raise NotImplementedError("plug in pymodbus or a similar transport here")

    def poll(self) -> Reading:
        """Read every register in REGISTERS once."""
        values = {name: self.read_register(addr) for name, addr in REGISTERS.items()}
        return Reading(timestamp=time.time(), **values)


def write_csv(readings: list[Reading], path: Path) -> None:
    """Append readings to a CSV file, writing a header when the file is new."""
    new = not path.exists()
    with path.open("a", newline="") as fh:
        writer = csv.writer(fh)
        if new:
            writer.writerow([f.name for f in dataclasses.fields(Reading)])
        for r in readings:
            writer.writerow(dataclasses.astuple(r))
