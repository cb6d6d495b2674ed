# Damaged intermediates and leftovers of killed runs (exomir.reads.integrity,
# exomir.atomic). When the workflow starts, every per-library file whose size
# differs from what the library job recorded in results/annotate/{sample}.json
# is removed and added to the default target, so that this run rebuilds it and
# everything downstream (a file truncated by a full disk or a copy is never
# used, even with its old modification time). The consumers (merge_counts,
# read_qc) compare SHA-256 checksums before reading. `.tmp-*` files of killed
# runs are removed. Both are skipped in jobs of a cluster run and while another
# run holds the directory's lock.

from exomir.atomic import remove_stale_temporaries
from exomir.reads.integrity import check_sizes


def library_files(sample):
    """Role -> path of the files the library job records for ``sample``."""
    return {
        "collapsed": f"results/collapsed/{sample}.fa.gz",
        "stats": f"results/preprocess/{sample}.json",
        "mirna": f"results/annotate/{sample}.mirna.tsv",
        "isomir": f"results/annotate/{sample}.isomir.tsv",
        "gff": f"results/isomirs/{sample}.gff",
    }


def directory_in_use():
    """Whether this is a job process or another run holds the lock."""
    locks = Path(".snakemake/locks")
    return not workflow.is_main_process or (locks.is_dir() and any(locks.iterdir()))


def remove_damaged_library_files():
    """Remove per-library files that differ in size from the recorded ones.

    Returns the removed paths (rebuilt by this run: see `rule all`).
    """
    if directory_in_use():
        return []
    removed = []
    for sample in SAMPLES:
        manifest = f"results/annotate/{sample}.json"
        made_by = f"library (sample {sample})"
        for path, msg in check_sizes(manifest, library_files(sample), made_by):
            print(f"exomir: {msg}", file=sys.stderr)
            removed.append(path)
    return removed


def remove_leftover_temporaries():
    """Remove the `.tmp-*` files an interrupted run left under results/."""
    if directory_in_use():
        return
    for tmp in remove_stale_temporaries("results"):
        print(f"exomir: removed {tmp}, left by an interrupted run", file=sys.stderr)


DAMAGED_REMOVED = remove_damaged_library_files()
remove_leftover_temporaries()
