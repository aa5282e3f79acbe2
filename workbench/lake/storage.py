"""Where lake tables and files live: a local folder or an object-store URL, one code path.

Delta Lake (delta-rs) speaks to both through ``storage_options``; plain files (documents)
go through a pyarrow filesystem built from the same options, so nothing else in the
library needs to know which one it is talking to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.fs as pafs


@dataclass(frozen=True)
class LakeLocation:
    """A lake root plus the credentials and endpoint needed to reach it."""

    root: str
    storage_options: dict[str, str] = field(default_factory=dict)

    @property
    def is_remote(self) -> bool:
        return "://" in self.root and not self.root.startswith("file://")

    def uri(self, relative: str) -> str:
        """URI of a path under the root, in the form Delta Lake and Polars accept."""
        if self.is_remote:
            return f"{self.root.rstrip('/')}/{relative}"
        return str(Path(self.root.removeprefix("file://")).resolve() / relative)

    def create_root(self) -> None:
        """Make a local root that does not exist yet, closed to other Unix users (0750, or less by the umask).

        Why here, for every new local lake: the lake's readers are Unix users given access by
        ACLs (``workbench lake permissions --apply``, run by ``platform up``), never by the
        "other" bits, and until those ACLs are applied a new lake must not be readable by
        everyone (the web connector's isolated fetcher refuses to run while its user could
        read the lake). An existing root keeps its mode: the permissions tool owns it.
        """
        if not self.is_remote:
            Path(self.root.removeprefix("file://")).resolve().mkdir(mode=0o750, parents=True, exist_ok=True)

    def table_uri(self, name: str) -> str:
        zone, _, table = name.partition(".")
        return self.uri(f"{zone}/{table}")

    def filesystem(self) -> tuple[pafs.FileSystem, str]:
        """A pyarrow filesystem and the root path inside it."""
        if not self.is_remote:
            root = Path(self.root.removeprefix("file://")).resolve()
            return pafs.LocalFileSystem(), str(root)
        scheme, _, rest = self.root.partition("://")
        if scheme not in ("s3", "s3a"):
            raise ValueError(f"unsupported lake URL scheme {scheme!r}: use a folder or s3://bucket/prefix")
        opts = {k.upper(): v for k, v in self.storage_options.items()}
        endpoint = opts.get("AWS_ENDPOINT_URL", "")
        fs = pafs.S3FileSystem(
            access_key=opts.get("AWS_ACCESS_KEY_ID"),
            secret_key=opts.get("AWS_SECRET_ACCESS_KEY"),
            region=opts.get("AWS_REGION", "us-east-1"),
            endpoint_override=endpoint.split("://", 1)[-1] or None,
            scheme="http" if endpoint.startswith("http://") else "https",
        )
        return fs, rest.rstrip("/")
