"""Stand-ins for Slurm's client commands, for tests without a cluster.

``sbatch SCRIPT`` records the script it is given in ``$FAKE_SLURM_DIR/submitted/``, prints
"Submitted batch job N" as Slurm does, and runs the script locally in the background,
once per index of its ``#SBATCH --array=`` range, with the ``SLURM_*`` variables a job
gets. ``srun`` runs its command; ``sacct`` reports RUNNING until a task's script has
exited, then COMPLETED or FAILED. ``scontrol ping`` says the controller is up, ``sinfo``
shows one partition ``cpu`` of one 4-CPU, 8000-MB node, and ``sbatch --test-only``
accepts any request. Nothing here talks to a network.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path

SBATCH = r"""
import os, re, subprocess, sys
from pathlib import Path

state = Path(os.environ["FAKE_SLURM_DIR"])
if "--test-only" in sys.argv:  # a request the stand-in cluster accepts: nothing submitted
    print("sbatch: Job 0 to start at now using 1 processors on nodes localhost in partition cpu",
          file=sys.stderr)
    sys.exit(0)
script = Path(sys.argv[-1])
(state / "submitted").mkdir(parents=True, exist_ok=True)
job_id = str(4200 + len(list((state / "submitted").iterdir())))
text = script.read_text()
(state / "submitted" / f"{job_id}.sh").write_text(text)
array = re.search(r"^#SBATCH --array=(\d+)-(\d+)", text, re.M)
tasks = range(int(array.group(1)), int(array.group(2)) + 1) if array else [None]
for task in tasks:
    name = job_id if task is None else f"{job_id}_{task}"
    env = dict(os.environ, SLURM_JOB_ID=job_id, SLURM_JOB_NODELIST="localhost", SLURM_NODEID="0",
               SLURM_JOB_NUM_NODES="1", SLURM_PROCID="0", SLURM_LOCALID="0", SLURM_NTASKS="1")
    if task is not None:
        env.update(SLURM_ARRAY_JOB_ID=job_id, SLURM_ARRAY_TASK_ID=str(task))
    done = state / f"{name}.exit"
    subprocess.Popen(
        ["bash", "-c", f'bash "$0"; echo $? > "{done}"', str(script)], env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    (state / f"{name}.task").write_text("")
print(f"Submitted batch job {job_id}")
"""

SRUN = r"""
import os, sys

def expand(path):  # Slurm's filename patterns, for this one-task job
    for key, var in (("%A", "SLURM_ARRAY_JOB_ID"), ("%a", "SLURM_ARRAY_TASK_ID"),
                     ("%j", "SLURM_JOB_ID")):
        path = path.replace(key, os.environ.get(var, ""))
    return path.replace("%t", "0")

args, streams = sys.argv[1:], {}
while args and args[0].startswith("-"):
    option = args.pop(0)
    if option in ("--output", "--error", "-o", "-e"):
        streams[option.lstrip("-")[0]] = expand(args.pop(0))
for name, fd in (("o", 1), ("e", 2)):
    if name in streams:
        os.makedirs(os.path.dirname(streams[name]), exist_ok=True)
        os.dup2(os.open(streams[name], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644), fd)
os.execvp(args[0], args)
"""

SACCT = r"""
import os, sys
from pathlib import Path

state = Path(os.environ["FAKE_SLURM_DIR"])
wanted = [sys.argv[i + 1] for i, a in enumerate(sys.argv) if a == "-j"]
print("JobID|State|NodeList")
for task in sorted(state.glob("*.task")):
    name = task.stem
    if name.split("_")[0] not in wanted:
        continue
    done = state / f"{name}.exit"
    code = done.read_text().strip() if done.exists() else ""
    status = "RUNNING" if not code else ("COMPLETED" if code == "0" else "FAILED")
    print(f"{name}|{status}|localhost")
"""

SCANCEL = "import sys\n"

SCONTROL = r"""
import sys

if sys.argv[1:] == ["ping"]:
    print("Slurmctld(primary) at localhost is UP")
"""

SINFO = r"""
print("cpu*|8000|4")  # sinfo -h -N -o "%P|%m|%c": one node of 4 CPUs and 8000 MB
"""


def install(bin_dir: Path, state_dir: Path) -> dict[str, str]:
    """Write the stand-ins into ``bin_dir``; return the environment that puts them on PATH."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    stand_ins = {
        "sbatch": SBATCH,
        "srun": SRUN,
        "sacct": SACCT,
        "scancel": SCANCEL,
        "scontrol": SCONTROL,
        "sinfo": SINFO,
    }
    for name, body in stand_ins.items():
        path = bin_dir / name
        path.write_text(f"#!{sys.executable}\n{body}")
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_SLURM_DIR": str(state_dir),
    }


def sbatch_flags(script: str) -> dict[str, str]:
    """The ``#SBATCH --key=value`` lines of a submitted script."""
    return dict(re.findall(r"^#SBATCH --([\w-]+)(?:=(.*))?$", script, re.M))
