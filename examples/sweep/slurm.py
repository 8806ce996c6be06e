"""Run a grid on a Slurm cluster with dask-jobqueue (``pip install dask-jobqueue``; not a dependency of mmtheory).

    python examples/sweep/slurm.py examples/sweep/table2_standin.toml --jobs 8

Each Slurm job is one Dask worker with one process and one thread; adapt ``queue``, ``account``,
``walltime`` and the resources to your site. The run folders must be on a filesystem every node sees.
"""

import argparse

from dask_jobqueue import SLURMCluster
from distributed import Client

from mmtheory.sweep import run_grid

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("grid")
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--out", default=None, help="run folders (shared filesystem)")
    parser.add_argument("--out-anywhere", action="store_true", help="allow --out outside the grid file's folder")
    args = parser.parse_args()
    cluster = SLURMCluster(
        queue="cpu",                # your partition
        account=None,               # your account, if the site needs one
        cores=1, processes=1,       # one worker process, one thread per job
        memory="8GB",
        walltime="04:00:00",
        job_script_prologue=["source /path/to/mmtheory/.venv/bin/activate",
                             "export OMP_NUM_THREADS=1 MMTHEORY_PROGRESS=0 TQDM_DISABLE=1"],
    )
    cluster.scale(jobs=args.jobs)   # or cluster.adapt(minimum_jobs=1, maximum_jobs=args.jobs)
    with Client(cluster) as client:
        print("dashboard:", client.dashboard_link)
        table = run_grid(args.grid, out=args.out, scheduler=client, out_anywhere=args.out_anywhere)
    print(table.to_string(index=False))
