"""Run one Snakemake job script in phases and print how long each took (JSON).

Used by ``bench/bench_overhead.py``; run as
``python overhead_driver.py SCRIPT [--warm-kernels]`` on a job script that
Snakemake kept (``--skip-script-cleanup``): the rule's shim with Snakemake's
preamble in front. The phases, in the order a job goes through them:

``wrapper``
    the modules Snakemake's preamble imports (``snakemake.iocontainers``,
    ``snakemake.logging``).
``preamble``
    the rest of the preamble: unpickling the ``snakemake`` object, which
    imports the modules of any pickled parameter (for rule ``library`` its
    :class:`~exomir.reads.library.LibrarySettings`).
``imports``
    the shim's own top-level imports.
``kernels``
    (with ``--warm-kernels``) loading every cached numba kernel of
    ``exomir.reads._kernels`` from its cache (or compiling it).
``first_run``
    the shim's body: the job as Snakemake runs it.
``second_run``
    ``main(snakemake)`` once more in the same process (everything loaded):
    the work itself. It rewrites the same outputs with the same bytes.

Printed: ``{"phase": seconds, "phase_cpu": CPU seconds, ...}`` on the last
line of stdout (CPU: ``time.process_time``, all threads of the process, plus
its finished child processes such as bowtie; on a
loaded machine it is closer than the wall time to what an idle one takes).
"""

import ast
import json
import resource
import sys
import time

MARK = "######## snakemake preamble end #########"


def warm_kernels() -> int:
    """Load (or compile) every signature in the kernels' numba cache index."""
    from numba.core.registry import CPUDispatcher

    import exomir.reads._kernels as kernels

    loaded = 0
    mods = [getattr(kernels, n) for n in dir(kernels)]
    for mod in [m for m in mods if type(m).__name__ == "module"]:
        for obj in vars(mod).values():
            cache = getattr(obj, "_cache", None)
            if not isinstance(obj, CPUDispatcher) or cache is None:
                continue
            index = getattr(cache, "_cache_file", None)
            if index is None:
                continue
            for key in index._load_index():
                obj.compile(key[0])
                loaded += 1
    return loaded


def main() -> None:
    """Execute the job script phase by phase."""
    path = sys.argv[1]
    text = open(path, encoding="utf-8").read()
    head, body = text.split(MARK, 1)
    tree = ast.parse(body)
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    rest = [n for n in tree.body if not isinstance(n, (ast.Import, ast.ImportFrom))]
    env: dict = {"__name__": "__main__", "__file__": path}
    times: dict[str, float] = {}
    clock: list[float] = []

    def cpu() -> float:
        # this process's threads and its finished children (bowtie)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + kids.ru_utime + kids.ru_stime

    def start() -> None:
        clock[:] = [time.perf_counter(), cpu()]

    def stop(name: str) -> None:
        times[name] = time.perf_counter() - clock[0]
        times[f"{name}_cpu"] = cpu() - clock[1]

    start()
    import snakemake.iocontainers
    import snakemake.logging  # noqa: F401

    stop("wrapper")
    start()
    exec(compile(head, path, "exec"), env)
    stop("preamble")
    start()
    exec(compile(ast.Module(imports, []), path, "exec"), env)
    stop("imports")
    if "--warm-kernels" in sys.argv:
        start()
        signatures = float(warm_kernels())
        stop("kernels")
        times["kernel_signatures"] = signatures
    start()
    exec(compile(ast.Module(rest, []), path, "exec"), env)
    stop("first_run")
    start()
    env["main"](env["snakemake"])
    stop("second_run")
    print(json.dumps(times))


if __name__ == "__main__":
    main()
