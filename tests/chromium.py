"""A headless Chromium driven over the DevTools protocol, for the page tests (no browser download:
it runs the machine's ``chromium``, as Debian's package installs it).

The protocol runs over a pipe (``--remote-debugging-pipe``: commands in on fd 3, replies out on
fd 4, each a JSON text ended by a NUL byte), so nothing but the standard library is needed. It
records what the page logs as errors (console errors, uncaught exceptions, failed loads) and every
URL the page asks for, so a test can say "no errors" and "nothing fetched from the network".

    python tests/chromium.py PAGE.html SHOT.png     # a full-page screenshot, and what it logged
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

__all__ = ["find_chromium", "Chromium", "BrowserError", "need_report_extra", "need_chromium"]


def _missing(reason: str) -> None:
    """Skip the test, except in CI (CI=true), where what is missing is a broken gate: fail."""
    import pytest

    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI installs it: .ci/run)")
    pytest.skip(reason)


def need_report_extra() -> None:
    """The test needs the ``report`` extra (plotly, networkx)."""
    from qbtrigger.page import ReportExtraMissing, require_report_extra

    try:
        require_report_extra("this test")
    except ReportExtraMissing as exc:
        _missing(str(exc))


def need_chromium() -> str:
    """The test needs a headless Chromium: its path."""
    binary = find_chromium()
    if binary is None:
        _missing("no chromium on the PATH (apt-get install chromium)")
    assert binary is not None
    return binary


class BrowserError(RuntimeError):
    """The browser did not answer, or answered with an error."""


def find_chromium() -> Optional[str]:
    """The browser to use: $QBTRIGGER_CHROMIUM, else chromium / chromium-browser on the PATH."""
    named = os.environ.get("QBTRIGGER_CHROMIUM")
    if named:
        return named
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Chromium:
    """One headless browser with one tab: ``with Chromium() as browser: browser.open(path)``."""

    def __init__(self, binary: Optional[str] = None, width: int = 1400, height: int = 1000) -> None:
        binary = binary or find_chromium()
        if binary is None:
            raise BrowserError("no chromium on the PATH (apt-get install chromium)")
        self.profile = tempfile.mkdtemp(prefix="qbtrigger-chromium-")
        self.errors: List[str] = []
        self.requests: List[str] = []
        self._events: List[Dict[str, Any]] = []
        self._buffer = b""
        self._next = 0
        to_browser, self._commands = os.pipe()
        self._replies, from_browser = os.pipe()
        self.stderr = open(os.path.join(self.profile, "stderr.log"), "wb")

        def at_fds_3_and_4() -> None:  # in the child, before exec: where Chromium looks for the pipe
            os.dup2(to_browser, 3)
            os.dup2(from_browser, 4)

        self.process = subprocess.Popen(
            [binary, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={self.profile}", f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.stderr,
            pass_fds=(3, 4), preexec_fn=at_fds_3_and_4,
        )
        os.close(to_browser)
        os.close(from_browser)
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.call(f"{domain}.enable", session=self.session)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=self.session)

    # ------------------------------------------------------------------ the protocol
    def call(self, method: str, params: Optional[Dict[str, Any]] = None, *, session: Optional[str] = None,
             timeout: float = 60.0) -> Dict[str, Any]:
        self._next += 1
        message: Dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return dict(reply.get("result", {}))
            self._note(reply)

    def _read(self, deadline: float) -> Dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._replies], [], [], left)[0]:
                raise BrowserError("the browser did not answer in time")
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                raise BrowserError("the browser closed the pipe (it crashed or exited)")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return dict(json.loads(raw))

    def _note(self, event: Dict[str, Any]) -> None:
        method, params = event.get("method"), event.get("params", {})
        self._events.append({"method": method})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.errors.append("exception: " + str(details.get("exception", {}).get("description") or details.get("text")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            self.errors.append("log: " + str(params["entry"].get("text")))
        elif method == "Network.requestWillBeSent":
            self.requests.append(str(params.get("request", {}).get("url")))
        elif method == "Network.loadingFailed":
            self.errors.append(f"load failed: {params.get('errorText')}")

    # ------------------------------------------------------------------ what tests use
    def open(self, path: str, timeout: float = 120.0) -> float:
        """Load a file and wait until its load event has fired; the seconds that took."""
        started = time.monotonic()
        self._events.clear()
        self.call("Page.navigate", {"url": "file://" + os.path.abspath(path)}, session=self.session)
        while not any(e["method"] == "Page.loadEventFired" for e in self._events):
            if time.monotonic() - started > timeout:
                raise BrowserError(f"{path} did not finish loading in {timeout:.0f} s")
            self.evaluate("0")
            time.sleep(0.05)
        return time.monotonic() - started

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited when it is a promise)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
                           session=self.session)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result.get("result", {}).get("value")

    def screenshot(self, path: str, full_page: bool = True) -> None:
        """A PNG of the page (all of it, not only the window, when ``full_page``)."""
        params: Dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics", session=self.session)["cssContentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        data = self.call("Page.captureScreenshot", params, session=self.session)["data"]
        with open(path, "wb") as handle:
            handle.write(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except BrowserError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._commands)
        os.close(self._replies)
        self.stderr.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


if __name__ == "__main__":
    with Chromium() as browser:
        took = browser.open(sys.argv[1])
        browser.evaluate("new Promise(r => setTimeout(r, 500))")
        browser.screenshot(sys.argv[2])
        print(f"loaded in {took:.1f} s; errors: {browser.errors}; requests: {sorted(set(browser.requests))[:5]}")
