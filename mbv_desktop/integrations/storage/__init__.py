"""Object storage for media: Cloudflare R2 through its S3 API (:mod:`.r2`).

Importing this package is cheap: boto3 is imported only when the first request is made.
"""

from __future__ import annotations

from .r2 import (
    CACHE_CONTROL,
    KEY_PATTERN,
    ObjectInfo,
    PreconditionFailed,
    R2Client,
    R2Config,
    SourceChanged,
    UploadGone,
    UploadState,
    UploadStopped,
    choose_part_size,
    clean_original_name,
    multipart_etag,
    object_key,
    upload_metadata,
)

__all__ = [
    "CACHE_CONTROL",
    "KEY_PATTERN",
    "ObjectInfo",
    "PreconditionFailed",
    "R2Client",
    "R2Config",
    "SourceChanged",
    "UploadGone",
    "UploadState",
    "UploadStopped",
    "choose_part_size",
    "clean_original_name",
    "multipart_etag",
    "object_key",
    "upload_metadata",
]
