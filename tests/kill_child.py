"""The child process of tests/test_kill.py: a streamed small W1 that is killed with SIGKILL.

``mode`` chooses where the kill happens (``at`` counts windows, parts or
writes); ``"none"`` runs to the end, ``"random"`` waits for the parent's
SIGKILL.  After each committed window the child sends the window's index
through ``conn``, so the parent knows which windows were complete.
"""

import os
import signal


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def install(mode, at):
    """Make the process kill itself in the middle of the chosen write."""
    import neo.io

    from pynn_multiscale import journal, store

    if mode == "journal":  # half of a window's record is written
        original = journal.Journal.append
        count = [0]

        def append(self, record):
            count[0] += 1
            if count[0] == at:
                os.write(self._fd, record[:len(record) // 2])
                die()
            original(self, record)

        journal.Journal.append = append
    elif mode == "part":  # a part's temporary file is written, not yet renamed
        calls = [0]

        def write_part(directory, seq, dataset):
            calls[0] += 1
            if calls[0] == at:
                dataset.to_netcdf(directory / f".part_{seq:06d}.nc.killed.tmp",
                                  engine="h5netcdf")
                die()
            return original_write(directory, seq, dataset)

        original_write = store.write_part
        store.write_part = write_part
    elif mode == "rotate":  # the part is in place, its journal not yet replaced
        original_init = journal.Journal.__init__
        made = [0]

        def init(self, path, schema, base):
            made[0] += 1
            if made[0] == at + 1:  # the first journal is made at the start
                die()
            original_init(self, path, schema, base)

        journal.Journal.__init__ = init
    elif mode == "nix":  # in the middle of writing a NIX file
        original_write_block = neo.io.NixIO.write_block
        writes = [0]

        def write_block(self, block, *args, **kwargs):
            writes[0] += 1
            if writes[0] == at:
                block.segments[0].spiketrains = block.segments[0].spiketrains[:1]
                original_write_block(self, block, *args, **kwargs)
                die()
            return original_write_block(self, block, *args, **kwargs)

        neo.io.NixIO.write_block = write_block
    elif mode == "nix_rename":  # one region's new NIX file renamed, the other's not
        original_replace = os.replace
        renames = [0]

        def replace(src, dst):
            if str(dst).endswith(".nix"):
                renames[0] += 1
                if renames[0] == at:
                    die()
            return original_replace(src, dst)

        os.replace = replace


def child(out, seed, duration, mode, at, conn):
    import pynn_multiscale as pm
    from small_w1 import small_w1

    pm.CoSimulation.flush_windows = 10  # a part every 10 windows
    pm.CoSimulation.flush_spikes_s = 0.0  # and the NIX files rewritten with it
    install(mode, at)
    original_commit = pm.recording.Recording.commit

    def commit(self, *args):
        original_commit(self, *args)
        conn.send(self.n_windows - 1)

    pm.recording.Recording.commit = commit
    # the sequential loop at W1's full 2.6 ms interval, on every machine (the kills are
    # placed by window); the pipelined loop's interruptions: tests/test_pipeline.py
    with small_w1(seed=seed, build_region=recording_build, pipeline=False) as cosim:
        cosim.run(duration, out=out)
    conn.send("done")


def recording_build(sim, idx, label, rng):
    """The small W1's region, with analog signals recorded (streamed with the spikes):
    V_m of a view of E every 0.5 ms, and conductances of all of I every 1 ms."""
    from small_w1 import small_build

    region = small_build(sim, idx, label, rng)
    region.populations["E"][10:30].record("v", sampling_interval=0.5)
    region.populations["I"].record(["gsyn_exc", "gsyn_inh"], sampling_interval=1.0)
    return region
