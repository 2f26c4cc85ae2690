"""Drives omlmd 0.1.6 (Python) for bench/transfer.ts: push or pull through its own Helper.

Its source is not part of this project: OMLMD_PEER_SRC names a folder holding the source
trees of containers/omlmd v0.1.6 and of oras-project/oras-py (see docs/benchmarks.md), which
bench/transfer.ts puts on PYTHONPATH.

    python3 peer-omlmd016.py push HOST/REPO:TAG FILE...
    python3 peer-omlmd016.py pull HOST/REPO:TAG OUTDIR

omlmd 0.1.6's Helper.push takes one file; for several files this calls the registry push
that Helper.push calls, with the same metadata files and annotations.
"""
import os
import sys
from pathlib import Path

from omlmd.constants import FILENAME_METADATA_JSON, FILENAME_METADATA_YAML, MIME_APPLICATION_CONFIG, MIME_APPLICATION_MLMODEL
from omlmd.helpers import Helper
from omlmd.model_metadata import ModelMetadata


def main() -> None:
    op, target, *rest = sys.argv[1:]
    helper = Helper()
    if op == "pull":
        helper.pull(target, rest[0])
        return
    # oras-py pushes only files under the working directory, titled by their base names.
    folder = Path(rest[0]).parent
    os.chdir(folder)
    if len(rest) == 1:
        helper.push(target, rest[0], name="bench")
        return
    meta = ModelMetadata(name="bench")
    json_meta = folder / FILENAME_METADATA_JSON
    yaml_meta = folder / FILENAME_METADATA_YAML
    json_meta.write_text(meta.to_json())
    yaml_meta.write_text(meta.to_yaml())
    try:
        cfg = f"{json_meta}:{MIME_APPLICATION_CONFIG}"
        files = [f"{f}:{MIME_APPLICATION_MLMODEL}" for f in rest] + [cfg, f"{yaml_meta}:{MIME_APPLICATION_CONFIG}"]
        helper.registry.push(target=target, files=files, manifest_annotations=meta.to_annotations_dict(), manifest_config=cfg, do_chunked=True)
    finally:
        json_meta.unlink()
        yaml_meta.unlink()

if __name__ == "__main__":
    main()
