"""Start and stop an emulated device on a real OS interface, for people and for tests.

``start()`` returns only when a host can open the link URL and the control API
answers; ``stop()`` joins every thread and removes the endpoint. Downstream projects can
use it in their own tests::

    with Controller.printer(link="pty") as emu:
        link = open_link(emu.url)
        ...
        emu.device.set_fault("paper_out", True)
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Any, Self

from .control import ControlServer
from .device import EmulatedDevice
from .scenario import Scenario, ScenarioRunner

LINK_GRAMMAR = "expected pty, tcp, tcp:PORT, tcp:HOST:PORT or usb"
_TCP = re.compile(r"^tcp(?::(?:(?P<host>[^:]+):)?(?P<port>\d+))?$")


class LinkSpecError(ValueError):
    """A ``--link`` value the emulator cannot serve."""


def parse_link_spec(spec: str) -> tuple[str, str, int]:
    """``pty`` / ``tcp[:HOST:PORT]`` / ``usb`` -> (kind, host, port)."""
    if spec in ("pty", "usb"):
        return spec, "127.0.0.1", 0
    match = _TCP.match(spec)
    if not match:
        raise LinkSpecError(f"bad link {spec!r}: {LINK_GRAMMAR}")
    port = int(match.group("port") or 0)
    if port > 65535:
        raise LinkSpecError(f"bad link {spec!r}: port {port} is out of range")
    return "tcp", match.group("host") or "127.0.0.1", port


class Controller:
    """One emulated device, its transport, its control API and its scenario."""

    def __init__(
        self,
        device: EmulatedDevice,
        link: str = "pty",
        *,
        baudrate: int | None = None,
        scenario: str | Path | Scenario | None = None,
        control: bool = True,
        control_host: str = "127.0.0.1",
        control_port: int = 0,
        link_dir: str | Path | None = None,
        usb_ids: dict[str, Any] | None = None,
    ) -> None:
        self.device = device
        self.link_kind, host, port = parse_link_spec(link)
        if isinstance(scenario, str | Path):
            scenario = Scenario.load(
                scenario,
                device.faults_supported,
                cards=getattr(device, "cards", None),
                option_faults=getattr(device, "option_faults", ()),
            )
        self.scenario = scenario
        self._runner: ScenarioRunner | None = None
        self.transport: Any
        if self.link_kind == "pty":
            from .transports.pty import PtyTransport

            self.transport = PtyTransport(device, baudrate=baudrate, link_dir=link_dir)
        elif self.link_kind == "tcp":
            from .transports.tcp import TcpTransport

            self.transport = TcpTransport(device, host=host, port=port, baudrate=baudrate)
        else:
            from .pacing import Pacer
            from .usb import UsbDeviceServer

            self.transport = UsbDeviceServer(
                device, pacer=Pacer(baudrate) if baudrate else None, **(usb_ids or {})
            )
        self._control = (
            ControlServer(device, control_host, control_port, {"link": self.link_kind})
            if control
            else None
        )
        self.url_options: dict[str, object] = {}

    @classmethod
    def printer(
        cls, link: str = "pty", *, config: Any = None, seed: int | None = None, **kwargs: Any
    ) -> Controller:
        """A controller around a fresh :class:`~posdriver_emulator.printer.PrinterEmulator`."""
        from .printer import PrinterEmulator

        device = PrinterEmulator(config, seed=seed)
        if link == "usb" and "usb_ids" not in kwargs:
            kwargs["usb_ids"] = {
                "manufacturer": device.config.maker,
                "product": device.config.model,
                "serial": device.config.serial_number,
            }
        return cls(device, link, **kwargs)

    @classmethod
    def terminal(
        cls,
        link: str = "pty",
        *,
        config: Any = None,
        seed: int | None = None,
        baudrate: int | None = None,
        scenario: str | Path | Scenario | None = None,
        control: bool = True,
        control_host: str = "127.0.0.1",
        control_port: int = 0,
        link_dir: str | Path | None = None,
        **settings: Any,
    ) -> Controller:
        """A controller around a fresh :class:`~posdriver_emulator.terminal.TerminalEmulator`.

        ``link`` is ``pty`` (serial framing, URL ``serial://...?baudrate=9600&stopbits=2``)
        or ``tcp[:HOST:PORT]`` (raw APDUs). ``settings`` are
        :class:`~posdriver_emulator.terminal.TerminalConfig` fields (``password``, ``t2``,
        ``status_ack_timeout``, ``slow_host_delay``, ...) applied over ``config``.
        """
        from dataclasses import replace

        from .terminal import TerminalConfig, TerminalEmulator

        kind = parse_link_spec(link)[0]
        if kind not in ("pty", "tcp"):
            raise LinkSpecError(f"bad link {link!r}: a ZVT terminal is reached over pty or tcp")
        known = {f.name for f in fields(TerminalConfig)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise TypeError(
                f"unknown terminal setting(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        config = replace(config or TerminalConfig(), **settings)
        device = TerminalEmulator(config, framing="serial" if kind == "pty" else "tcp", seed=seed)
        controller = cls(
            device,
            link,
            baudrate=baudrate,
            scenario=scenario,
            control=control,
            control_host=control_host,
            control_port=control_port,
            link_dir=link_dir,
        )
        if kind == "pty":
            # ZVT's serial line is 9600 8N2 unless paced at another rate; the URL tells the
            # driver so. Pacing stays off unless ``baudrate`` is given.
            controller.url_options = {"baudrate": baudrate or 9600, "stopbits": 2}
        return controller

    @property
    def url(self) -> str:
        url = str(self.transport.url)
        extra = {k: v for k, v in self.url_options.items() if f"{k}=" not in url}
        if extra:
            url += ("&" if "?" in url else "?") + "&".join(f"{k}={v}" for k, v in extra.items())
        return url

    @property
    def control_url(self) -> str | None:
        return self._control.url if self._control else None

    def describe(self) -> dict[str, Any]:
        """The JSON line ``posdriver-emulator`` prints for this device."""
        return {"device": self.device.kind, "url": self.url, "control": self.control_url}

    def set_fault(self, name: str, active: bool = True) -> None:
        self.device.set_fault(name, active)

    def start(self) -> Self:
        self.device.start()
        self.transport.start()
        if self._control:
            self._control.extra_state["url"] = self.url
            self._control.start()
        if self.scenario:
            self._runner = ScenarioRunner(self.scenario, self.device).start()
        return self

    def stop(self) -> None:
        if self._runner:
            self._runner.stop()
        if self._control:
            self._control.stop()
        self.transport.stop()
        self.device.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
