"""A QEMU monitor reached through libvirt: the ``Transport`` for libvirt domains.

libvirt holds a domain's QMP socket itself, so qmpsh talks to it the way
``virsh qemu-monitor-command`` does, through the libvirt Python binding
(``libvirt-python``, the optional extra ``qmpsh[libvirt]``), imported here
and only here, on first use:

* commands go through ``virDomainQemuMonitorCommand`` (libvirt adds its own
  ``id``, so one the user wrote is taken off and put back on the reply), on
  daemon worker threads, so a hung call never keeps qmpsh from exiting;
* events come from ``virConnectDomainQemuMonitorEventRegister`` on libvirt's
  default event loop, run by one daemon thread for the process, and are handed
  to the asyncio loop as QMP-shaped events, in the order libvirt delivers them
  (libvirt queues events apart from replies: an event a command causes may
  arrive just after that command's reply);
* the end of the session is the domain's lifecycle event (stopped) or the
  connection's close callback (libvirtd gone, keepalive timeout).

libvirt marks a domain "tainted" (custom-monitor) once monitor commands are
sent through it; ``taint_warning`` says what that means and ``cli`` shows it
once per session.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from qmpsh.errors import ConnectFailed, ConnectionLost, InputError, NoReply, QmpshError
from qmpsh.transport import failures, loop_waits, messages
from qmpsh.transport.interface import Observer, Observers, ServerInfo
from qmpsh.transport.threads import in_thread

INSTALL_HINT = (
    "libvirt domains need the libvirt Python binding: pip install 'qmpsh[libvirt]' "
    "(it compiles against libvirt: apt-get install libvirt-dev pkg-config gcc python3-dev)"
)


def taint_warning(domain: str) -> str:
    """What ``cli`` says once per session: libvirt taints the domain, and what that means."""
    return (
        f"libvirt marks domain {domain!r} 'tainted' (custom-monitor) once commands go "
        "through its monitor: libvirt does not know about changes made here (devices, "
        "block jobs, run state may disagree with its view); 'virsh dominfo' and the "
        "domain's log show the taint"
    )


#: Seconds between libvirt keepalive probes, and how many may go unanswered.
KEEPALIVE = (5, 3)
#: How long a failed command waits for libvirt to report how the domain stopped.
LIFECYCLE_GRACE = 5.0
#: How long close() waits for libvirt to let go (a dead remote host must not hang exit).
CLOSE_TIMEOUT = 2.0

#: libvirt's words for a monitor that QEMU closed (it died, or is dying).
_MONITOR_GONE = re.compile(
    r"(read from|write to|end of file from|closed the) (qemu )?monitor", re.I
)
_STOPPED_DETAILS = {
    0: "shut down",
    1: "destroyed",
    2: "crashed",
    3: "migrated away",
    4: "saved",
    5: "stopped: QEMU exited unexpectedly or was killed",
    6: "stopped: a snapshot was reverted to",
}
_CLOSE_REASONS = {
    0: "the libvirt connection failed",
    1: "libvirtd closed the connection",
    2: "libvirtd stopped answering (keepalive timeout)",
}

_setup_lock = threading.Lock()
_binding: tuple[Any, Any] | None = None


def binding() -> tuple[Any, Any]:
    """The ``libvirt`` and ``libvirt_qemu`` modules, with the event loop running.

    libvirt's default event loop is process-wide and must be registered before
    the first connection opens; one daemon thread runs it from then on.
    """
    global _binding
    with _setup_lock:
        if _binding is None:
            try:
                import libvirt  # type: ignore[import-untyped,import-not-found,unused-ignore]
                import libvirt_qemu  # type: ignore[import-untyped,import-not-found,unused-ignore]
            except ImportError:
                raise ConnectFailed(INSTALL_HINT) from None
            # libvirt prints every error to stderr unless a handler takes it; qmpsh
            # reports the ones that matter itself, once.
            libvirt.registerErrorHandler(_ignore, None)
            libvirt.virEventRegisterDefaultImpl()
            threading.Thread(
                target=_run_events, args=(libvirt,), name="libvirt-events", daemon=True
            ).start()
            _binding = libvirt, libvirt_qemu
        return _binding


def _ignore(_context: object, _error: object) -> None:
    pass


def _run_events(libvirt: Any) -> None:
    while True:
        libvirt.virEventRunDefaultImpl()


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class LibvirtTransport:
    """The QEMU monitor of one libvirt domain (``uri`` names the libvirt connection)."""

    def __init__(self, target: str, uri: str, domain: str) -> None:
        self.target = target
        self.uri = uri
        self.domain = domain
        self.info = ServerInfo()
        self._observers = Observers()
        self._arrivals = loop_waits.Arrivals()
        self._observers.add(self._arrivals, quiet=True)
        self._libvirt, self._qemu = binding()
        self._conn: Any = None
        self._dom: Any = None
        self._callbacks: list[Callable[[], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed: asyncio.Event | None = None
        self._reason = ""

    def observe(self, observer: Observer, *, quiet: bool = False) -> None:
        self._observers.add(observer, quiet=quiet)

    # -- connecting

    async def connect(self, timeout: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._closed = asyncio.Event()
        try:
            async with asyncio.timeout(timeout):
                await in_thread(self._open)
                reply = await self.execute({"execute": "query-version"}, quiet=True)
        except TimeoutError:
            await self.close()
            raise ConnectFailed(
                f"{self.target}: libvirt did not answer within {timeout:g} s"
            ) from None
        except ConnectFailed:
            await self.close()
            raise
        except QmpshError as err:  # the domain stopped meanwhile, or libvirt refused
            await self.close()
            raise ConnectFailed(str(err)) from None
        value = reply.get("return")
        if isinstance(value, Mapping):
            qemu = value.get("qemu", {})
            if isinstance(qemu, Mapping):
                numbers = (qemu.get("major"), qemu.get("minor"), qemu.get("micro"))
                version = ".".join(str(n) for n in numbers)
                self.info = ServerInfo(version, str(value.get("package", "")).strip())

    def _open(self) -> None:
        """Open the connection, find the running domain, register the callbacks (blocking)."""
        libvirt = self._libvirt
        try:
            conn = libvirt.open(self.uri)
        except libvirt.libvirtError as err:
            raise ConnectFailed(self._open_message(err)) from None
        self._conn = conn
        try:
            dom = self._lookup(conn)
            if not dom.isActive():
                raise ConnectFailed(
                    f"{self.target}: domain {self.domain!r} is not running "
                    f"(virsh -c {self.uri} start {self.domain})"
                )
            self._register(conn, dom)
            self._dom = dom
        except BaseException as err:
            self._release()
            if isinstance(err, libvirt.libvirtError):
                raise ConnectFailed(f"{self.target}: {_first_line(err)}") from None
            raise
        if self._reason:  # given up on (timeout) while this thread was still opening
            self._release()

    def _lookup(self, conn: Any) -> Any:
        """The domain by name, else by UUID or id, as virsh takes it."""
        libvirt = self._libvirt
        try:
            return conn.lookupByName(self.domain)
        except libvirt.libvirtError as err:
            if err.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise
        with contextlib.suppress(libvirt.libvirtError, ValueError):
            if self.domain.isdigit():
                return conn.lookupByID(int(self.domain))
            if len(self.domain) == 36 and self.domain.count("-") == 4:
                return conn.lookupByUUIDString(self.domain)
        raise ConnectFailed(
            f"{self.target}: no domain {self.domain!r} at {self.uri} "
            f"('virsh -c {self.uri} list --all' lists them)"
        )

    def _open_message(self, err: Any) -> str:
        libvirt = self._libvirt
        code = err.get_error_code()
        text = _first_line(err)
        if code in (
            libvirt.VIR_ERR_AUTH_FAILED,
            libvirt.VIR_ERR_AUTH_CANCELLED,
            libvirt.VIR_ERR_AUTH_UNAVAILABLE,
            libvirt.VIR_ERR_ACCESS_DENIED,
            libvirt.VIR_ERR_OPERATION_DENIED,
        ):
            return f"{self.target}: libvirt refused access to {self.uri}: {text}"
        if code == libvirt.VIR_ERR_SYSTEM_ERROR and "libvirt-sock" in text:
            return f"{self.target}: cannot reach libvirtd ({text}); is it running?"
        return f"{self.target}: cannot connect to {self.uri}: {text}"

    def _register(self, conn: Any, dom: Any) -> None:
        libvirt, qemu = self._libvirt, self._qemu
        conn.registerCloseCallback(self._on_close, None)
        self._callbacks.append(conn.unregisterCloseCallback)
        life = conn.domainEventRegisterAny(
            dom, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_lifecycle, None
        )
        self._callbacks.append(lambda: conn.domainEventDeregisterAny(life))
        events = qemu.qemuMonitorEventRegister(conn, dom, None, self._on_event, None, 0)
        self._callbacks.append(lambda: qemu.qemuMonitorEventDeregister(conn, events))
        with contextlib.suppress(libvirt.libvirtError):  # a driver without keepalive
            conn.setKeepAlive(*KEEPALIVE)

    # -- callbacks, on libvirt's event thread

    def _on_event(
        self,
        _conn: Any,
        _dom: Any,
        event: str,
        seconds: int,
        micros: int,
        details: str | None,
        _opaque: object,
    ) -> None:
        msg: dict[str, object] = {
            "timestamp": {"seconds": seconds, "microseconds": micros},
            "event": event,
        }
        if details is not None:
            try:
                msg["data"] = messages.parse(details)
            except ValueError:
                msg["data"] = details
        self._soon(self._notify, "recv", msg, False)

    def _on_lifecycle(self, _conn: Any, _dom: Any, event: int, detail: int, _o: object) -> None:
        if event == self._libvirt.VIR_DOMAIN_EVENT_STOPPED:
            how = _STOPPED_DETAILS.get(detail, "stopped")
            self._soon(self._set_closed, f"{self.target}: domain {self.domain!r} {how}")

    def _on_close(self, _conn: Any, reason: int, _opaque: object) -> None:
        if reason in _CLOSE_REASONS:  # not CLIENT: that is our own close()
            self._soon(self._set_closed, f"{self.target}: {_CLOSE_REASONS[reason]}")

    def _soon(self, callback: Callable[..., None], *args: object) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody listens
                loop.call_soon_threadsafe(callback, *args)

    # -- on the asyncio loop

    def _notify(self, direction: str, msg: Mapping[str, object], quiet: bool) -> None:
        if self._reason:  # closed: what libvirt still delivers is not this session's
            return
        self._observers.notify(direction, msg, quiet=quiet)

    def _set_closed(self, reason: str) -> None:
        if not self._reason:
            self._reason = reason
            if self._closed is not None:
                self._closed.set()

    async def execute(
        self,
        message: Mapping[str, object],
        *,
        quiet: bool = False,
        fd: int = -1,
        timeout: float | None = None,
    ) -> dict[str, object]:
        if fd >= 0:
            raise InputError("passing file descriptors is not supported through libvirt")
        if self._reason or self._dom is None:
            raise ConnectionLost(self._reason or f"{self.target}: not connected")
        messages.check_own_id(message)  # libvirt numbers what it sends; the rule is still one
        own_id = message.get("id")
        sent = {key: value for key, value in message.items() if key != "id"}
        text = messages.encode(sent)
        self._notify("send", sent, quiet)
        dom, qemu = self._dom, self._qemu
        try:
            async with asyncio.timeout(timeout):
                answer = await in_thread(lambda: str(qemu.qemuMonitorCommand(dom, text, 0)))
            # What libvirt returns is QEMU's reply text: read by the rule every transport reads by.
            reply = messages.decode(answer.encode(errors="surrogatepass"))
        except TimeoutError:
            command = message.get("execute") or message.get("exec-oob")
            raise NoReply(failures.no_reply(self.target, command, timeout or 0)) from None
        except messages.BadMessage as bad:  # nothing after it can be trusted: the end
            self._set_closed(f"{self.target}: {bad}")
            raise ConnectionLost(self._reason) from None
        except self._libvirt.libvirtError as err:
            if _quits(sent) and _MONITOR_GONE.search(_first_line(err)):
                # QEMU answers quit and closes the monitor at once; libvirt reports the
                # closing instead of the answer (virsh too). The answer is always this.
                reply = {"return": "" if sent.get("execute") != "quit" else {}}
            else:
                raise await self._failure(err) from None
        if own_id is not None:
            reply["id"] = own_id
        self._notify("recv", reply, quiet)
        return reply

    async def _failure(self, err: Any) -> QmpshError:
        """A libvirt error on a command: the domain or connection went away, or not.

        When QEMU dies under a command, libvirt fails the command ("Unable to read
        from monitor") a second or two before it has noticed that the domain
        stopped: wait for its lifecycle event, which says how the domain ended.
        """
        text = _first_line(err)
        if _MONITOR_GONE.search(text) or not await self._active():
            if self._closed is not None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(LIFECYCLE_GRACE):
                        await self._closed.wait()
            if self._reason:
                return ConnectionLost(self._reason)
            if not await self._active():
                return ConnectionLost(f"{self.target}: domain {self.domain!r} is no longer running")
        return QmpshError(f"{self.target}: libvirt: {text}")

    async def _active(self) -> bool:
        dom = self._dom
        if self._reason or dom is None:
            return False
        try:
            return bool(await in_thread(dom.isActive))
        except self._libvirt.libvirtError:
            return False

    def submit(self, message: Mapping[str, object]) -> object:
        return loop_waits.submit(self.execute(message), message)

    async def result(self, ticket: object, timeout: float | None) -> dict[str, object]:
        return await loop_waits.result(self.target, ticket, timeout)

    def drop(self, ticket: object) -> None:
        loop_waits.drop(ticket)

    async def wait(self, *, fd: int | None = None, timeout: float | None = None) -> bool:
        return await self._arrivals.wait(self.wait_closed, fd=fd, timeout=timeout)

    async def wait_closed(self) -> str:
        if self._closed is None:
            raise ConnectionLost(f"{self.target}: not connected")
        await self._closed.wait()
        return self._reason

    async def close(self) -> None:
        self._set_closed(self._reason or f"{self.target}: closed")
        if self._conn is None:
            return
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await in_thread(self._release)

    def _release(self) -> None:
        """Deregister what was registered and close the connection (blocking)."""
        conn, self._conn, self._dom = self._conn, None, None
        callbacks, self._callbacks = self._callbacks, []
        for undo in reversed(callbacks):
            with contextlib.suppress(Exception):
                undo()
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


def _quits(message: Mapping[str, object]) -> bool:
    """QMP ``quit``, or HMP ``quit`` / ``q`` through human-monitor-command."""
    command = message.get("execute")
    if command == "quit":
        return True
    arguments = message.get("arguments")
    if command != "human-monitor-command" or not isinstance(arguments, Mapping):
        return False
    line = arguments.get("command-line")
    return isinstance(line, str) and line.split()[:1] in (["quit"], ["q"])


def domain_names(uri: str) -> list[str]:
    """Names of the running domains at URI, for ``--all --libvirt 'web-*'``."""
    libvirt, _ = binding()
    try:
        conn = libvirt.openReadOnly(uri)
    except libvirt.libvirtError as err:
        raise ConnectFailed(f"{uri}: cannot list domains: {_first_line(err)}") from None
    try:
        flags = libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE
        return sorted(str(dom.name()) for dom in conn.listAllDomains(flags))
    finally:
        conn.close()
