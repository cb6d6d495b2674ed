# Damaged intermediates and leftovers of killed runs (exomir.reads.integrity,
# exomir.atomic). When the workflow starts, every per-library file whose size
# differs from what the library job recorded in results/annotate/{sample}.json
# is removed, so that this run rebuilds it and everything downstream (a file
# truncated by a full disk or a copy is never used). Skipped while another run
# holds the directory's lock. The consumers (merge_counts, read_qc) compare
# SHA-256 checksums before reading. `.tmp-*` files of killed runs are removed
# once this run holds the lock (onstart).

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


def remove_damaged_library_files():
    """Remove per-library files that differ in size from the recorded ones."""
    locks = Path(".snakemake/locks")
    if not workflow.is_main_process or (locks.is_dir() and any(locks.iterdir())):
        return
    for sample in SAMPLES:
        manifest = f"results/annotate/{sample}.json"
        made_by = f"library (sample {sample})"
        for msg in check_sizes(manifest, library_files(sample), made_by):
            print(f"exomir: {msg}", file=sys.stderr)


remove_damaged_library_files()


onstart:
    for tmp in remove_stale_temporaries("results"):
        print(f"exomir: removed {tmp}, left by an interrupted run", file=sys.stderr)
