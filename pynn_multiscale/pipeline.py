"""TVB one window ahead, in a second process: ``CoSimulation(pipeline=True)``.

The sequential loop does one thing at a time: TVB integrates window k, the
spiking simulator runs window k, its output is committed to TVB, and only
then does TVB integrate window k + 1.  On a machine with two cores one of
them is idle all the time.

TVB's window k + 1 reads a spiking region's values only through connection
delays.  If every such delay is at least two synchronisation intervals, the
values it reads are those of window k - 1 or earlier, which are committed
while the spiking side runs window k.  So TVB can integrate window k + 1 in a
second process *while* the spiking simulator runs window k, and the spiking
side never waits for TVB:

====================  =================  =================  ==============
main process          spiking window k   read, commit k     spiking k + 1
TVB process           TVB window k + 1   commit k           TVB window k + 2
====================  =================  =================  ==============

The results are the sequential loop's, number for number (tested), under
three conditions that :class:`~pynn_multiscale.CoSimulation` checks:

* the interval is at most half the shortest delay touching a spiking region
  (the default interval is halved accordingly);
* the TVB model computes a spiking region's whole state from the spiking
  side (a ``spiking_update`` method, as in
  :mod:`pynn_multiscale.models.red_wong_wang`): TVB's own stand-in values for
  a spiking region are never read;
* the coupling function reads only the source regions (``Linear``,
  ``Scaling``, ``HyperbolicTangent``, ``Sigmoidal``, ``SigmoidalJansenRit``),
  not the target's own state.

The TVB process is a fork of the main one (``os.fork``), made at the first ``run()``: it
inherits the configured simulator, custom model classes included, without
pickling anything.  It ignores Ctrl-C (the main process handles it and then
collects every window already committed) and ends with the co-simulation,
or when the main process dies.  The :class:`tvb.simulator.simulator.Simulator`
object in the main process is not advanced: the results come back through
the co-simulation's :class:`~pynn_multiscale.results.Result`.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import traceback
from collections import deque

#: Couplings whose pre-synaptic function ignores the target's own state.
PIPELINE_COUPLINGS = ("Linear", "Scaling", "HyperbolicTangent", "Sigmoidal", "SigmoidalJansenRit")


class LocalTVB:
    """The sequential loop: each window is integrated when it is needed, committed at once."""

    def __init__(self, engine):
        self.engine = engine

    def window(self, n_steps, ahead=None):
        return self.engine.integrate(n_steps)

    def horizon(self, n_steps):
        self.engine.horizon(n_steps)

    def commit(self, window, inputs, done, then=None):
        done(self.engine.commit_inputs(window, inputs))

    def drain(self):
        pass

    def close(self):
        pass


class ForkedTVB:
    """The pipelined loop: a forked process integrates and commits, in the order asked.

    Requests and replies go through one pipe, in order.  The main process
    asks for the first two windows at once; after that, one message a
    window each way: the commit of window k (the spiking side's values, from
    which the TVB process computes the spiking regions' states) asks for
    window k + 2 too (``then``), and one reply brings the monitors' samples of
    window k and window k + 2.  A commit's reply is handled when it arrives,
    at the latest by :meth:`drain`.
    """

    def __init__(self, engine):
        self.engine = engine
        self._conn, child = multiprocessing.Pipe()
        self._process = _Fork(_serve, engine, child, self._conn)
        child.close()
        self._expected = deque()  # ("window", None) or ("commit", done), in request order
        self._windows_asked = 0  # windows asked for and not yet received

    @property
    def pid(self):
        return self._process.pid

    def _request(self, message, kind, done=None, windows=0):
        try:
            self._conn.send(message)
        except (BrokenPipeError, OSError):
            self._died()
        self._expected.append((kind, done))
        self._windows_asked += windows

    def _receive(self):
        kind, done = self._expected.popleft()
        try:
            tag, payload = self._conn.recv()
        except (EOFError, OSError):
            self._died()
        if tag == "error":
            exc, trace = payload
            exc.add_note(f"(raised in the TVB process {self.pid}:)\n{trace}")
            raise exc
        if kind == "commit":
            samples, step, state, payload = payload  # payload: the window asked for with it
            self.engine.current_step = self.engine.sim.current_step = step
            self.engine.sim.current_state = state
            done(samples)
            if payload is not None:
                kind = "window"
        if kind == "window":
            self._windows_asked -= 1
        return kind, payload

    def _died(self):
        self._process.join(1.0)
        raise RuntimeError(
            f"the TVB process {self.pid} ended unexpectedly (exit code "
            f"{self._process.exitcode}). Likely cause: it was killed (out of memory, or a "
            "signal). Fix: check the system log, or run with pipeline=False.")

    def window(self, n_steps, ahead=None):
        """Window k (asked for before, or now), then ask for window k + 1 (``ahead`` steps)."""
        if not self._windows_asked:
            self._request(("integrate", n_steps), "window", windows=1)
        while True:
            kind, payload = self._receive()
            if kind == "window":
                break
        if payload.n_steps != n_steps:
            raise RuntimeError(f"the TVB process integrated {payload.n_steps} steps, "
                               f"{n_steps} were needed")
        if ahead:
            self._request(("integrate", ahead), "window", windows=1)
        return payload

    def commit(self, window, inputs, done, then=None):
        """Commit ``window`` with the spiking side's ``inputs``; then integrate ``then`` steps."""
        self._request(("commit", window.first_step, inputs, then), "commit", done,
                      windows=1 if then else 0)

    def horizon(self, n_steps):
        """Tell the TVB process where the run ends (a stimulus's time grid); no reply."""
        self.engine.horizon(n_steps)
        try:
            self._conn.send(("horizon", n_steps))
        except (BrokenPipeError, OSError):
            self._died()

    def drain(self):
        """Handle every outstanding commit; windows integrated ahead are dropped."""
        while self._expected:
            self._receive()

    def close(self):
        if self._process.is_alive():
            try:
                self._conn.send(("stop",))
            except (BrokenPipeError, OSError):
                pass
            self._process.join(5.0)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(5.0)
        self._conn.close()


class _Fork:
    """A forked child running ``target(*args)``, then ``os._exit``.

    Not ``multiprocessing.Process``: that refuses to start from a daemonic
    process, such as a ``multiprocessing.Pool`` worker running one
    co-simulation of a parameter sweep.
    """

    def __init__(self, target, engine, conn, parent_end):
        self.exitcode = None
        self.pid = os.fork()
        if self.pid == 0:  # the child: never return into the caller's code
            code = 1
            try:
                parent_end.close()
                target(engine, conn)
                code = 0
            finally:
                os._exit(code)

    def is_alive(self):
        if self.exitcode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.exitcode = os.waitstatus_to_exitcode(status)
        return self.exitcode is None

    def join(self, timeout):
        deadline = time.monotonic() + timeout
        while self.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)

    def terminate(self):
        if self.is_alive():
            os.kill(self.pid, signal.SIGTERM)


def _serve(engine, conn):
    """The TVB process: integrate and commit windows as the main process asks, in order."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the main process to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    windows = {}
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the main process is gone
            return
        try:
            if message[0] == "integrate":
                window = engine.integrate(message[1])
                windows[window.first_step] = window
                conn.send(("window", window))
            elif message[0] == "horizon":
                engine.horizon(message[1])
            elif message[0] == "commit":
                _, first_step, inputs, then = message
                samples = engine.commit_inputs(windows.pop(first_step), inputs)
                step, state = engine.current_step, engine.sim.current_state
                ahead = None
                if then:
                    ahead = engine.integrate(then)
                    windows[ahead.first_step] = ahead
                conn.send(("commit", (samples, step, state, ahead)))
            else:
                return
        except BaseException as exc:  # noqa: BLE001 - every error goes back to the main process
            trace = traceback.format_exc()
            try:
                conn.send(("error", (exc, trace)))
            except Exception:  # the exception does not pickle
                conn.send(("error", (RuntimeError(f"{type(exc).__name__}: {exc}"), trace)))
            return
