"""Photo evidence, stored in GridFS (the ``evidencias`` bucket: ``evidencias.files`` and
``evidencias.chunks``). A photo is attached to an infraction in two steps, because GridFS cannot
take part in a transaction: the file is written first, then listed on the infraction
(``InfraccionRepository.add_evidence``); a file that never got listed is removed at once. Only a
listed file is ever shown: one left behind by a process that died between the two steps is
invisible (its ``metadata.infraccion_id`` names the infraction it was meant for)."""

from __future__ import annotations

import logging
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from domain.errors import NotFound

BUCKET = "evidencias"
FILES, CHUNKS = f"{BUCKET}.files", f"{BUCKET}.chunks"
COLLECTIONS = (FILES, CHUNKS)
# GridFS's own indexes, created here because the driver would create them on a first write.
FILES_INDEXES = [
    IndexModel([("filename", ASCENDING), ("uploadDate", ASCENDING)], name="filename_1_uploadDate_1"),
    IndexModel([("metadata.infraccion_id", ASCENDING), ("uploadDate", ASCENDING)], name="infraccion"),
]
CHUNKS_INDEXES = [IndexModel([("files_id", ASCENDING), ("n", ASCENDING)], unique=True, name="files_id_1_n_1")]
log = logging.getLogger("transito.evidencias")


class EvidenceStore:
    def __init__(self, db: AsyncDatabase) -> None:
        self._db = db
        self._bucket = AsyncGridFSBucket(db, bucket_name=BUCKET)

    async def put(self, file_id: ObjectId, data: bytes, *, filename: str, metadata: dict[str, Any]) -> None:
        """Write a file; if the write breaks off, what was written of it is removed."""
        try:
            await self._bucket.upload_from_stream_with_id(file_id, filename, data, metadata=metadata)
        except Exception:
            await self.remove(file_id)
            raise

    async def remove(self, file_id: ObjectId) -> None:
        """Remove a file that was never listed on its infraction (best effort: an orphan left by a
        failure here is found by ``remove_orphans``)."""
        try:
            await self._db[CHUNKS].delete_many({"files_id": file_id})
            await self._db[FILES].delete_one({"_id": file_id})
        except Exception as error:
            log.warning("could not remove the unlisted evidence file %s: %s", file_id, error)

    async def get(self, file_id: str | ObjectId) -> tuple[bytes, dict[str, Any]]:
        """A file's bytes and its metadata."""
        try:
            stream = await self._bucket.open_download_stream(ObjectId(file_id))
        except (NoFile, InvalidId, TypeError):
            raise NotFound("No existe esa evidencia.") from None
        return await stream.read(), stream.metadata or {}
