"""Finding and reading billing files: a local file, folder or glob, or s3://bucket/prefix.

Files are CSV (optionally gzip) or Parquet, read with pyarrow and only the
columns a source asks for. S3 objects are read through boto3 (its own
credential chain and AWS_ENDPOINT_URL) in byte ranges pinned to the ETag seen
when the bucket was listed, so an object that vanishes or is replaced while it
is being read fails with its key named instead of mixing two versions.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import glob
import io
import re
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, TypeVar

import boto3
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from cost_assets.ingestion.line_items import BadCostDataError

DATA_SUFFIXES = (".parquet", ".csv", ".csv.gz")
GLOB_CHARS = "*?["
# CUR 2.0 / Data Exports partition folder: <prefix>/data/BILLING_PERIOD=YYYY-MM/
BILLING_PERIOD_PATTERN = re.compile(r"BILLING_PERIOD=(\d{4})-(\d{2})(?:/|$)")
# Only these spellings mean "no value" in a billing CSV ("NA" can be a real tag value).
CSV_NULL_VALUES = ["", "null", "NULL"]
CSV_BLOCK_BYTES = 16 << 20
CSV_HEADER_BLOCK_BYTES = 1 << 20
S3_READ_BYTES = 8 << 20  # one ranged GET per 8 MiB
PARQUET_BATCH_ROWS = 250_000
T = TypeVar("T")
_DONE = object()  # the end of prefetched()'s items


class BillingFileError(RuntimeError):
    """A billing file cannot be listed or read; the message names the file or key."""


@dataclass(frozen=True)
class BillingFile:
    """One data file. `uri` is what errors and rejected rows name."""

    uri: str
    size: int = 0
    etag: str | None = None

    @property
    def is_s3(self) -> bool:
        return self.uri.startswith("s3://")

    @property
    def is_parquet(self) -> bool:
        return self.uri.lower().endswith(".parquet")

    @property
    def is_gzip(self) -> bool:
        return self.uri.lower().endswith(".gz")

    @property
    def folder(self) -> str:
        return self.uri.rsplit("/", 1)[0]

    @property
    def bucket_and_key(self) -> tuple[str, str]:
        bucket, _, key = self.uri.removeprefix("s3://").partition("/")
        return bucket, key

    @property
    def billing_period(self) -> dt.date | None:
        """First day of the BILLING_PERIOD=YYYY-MM folder the file sits in, if any."""
        match = BILLING_PERIOD_PATTERN.search(self.uri)
        return dt.date(int(match.group(1)), int(match.group(2)), 1) if match else None


def month_after(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def is_data_file(name: str) -> bool:
    return name.lower().endswith(DATA_SUFFIXES)


def s3_client():
    return boto3.client("s3", config=Config(retries={"max_attempts": 5, "mode": "standard"}))


# --- listing -----------------------------------------------------------------


def list_billing_files(uri: str) -> list[BillingFile]:
    """The data files under `uri` (COST_SOURCE_URI), sorted by name."""
    files = _list_s3(uri) if uri.startswith("s3://") else _list_local(uri)
    if not files:
        raise BillingFileError(f"COST_SOURCE_URI={uri!r} holds no billing files ({', '.join(DATA_SUFFIXES)})")
    return sorted(files, key=lambda f: f.uri)


def _list_local(uri: str) -> list[BillingFile]:
    path = Path(uri).expanduser()
    if any(c in uri for c in GLOB_CHARS):
        found = [Path(p) for p in glob.glob(str(path), recursive=True)]
    elif path.is_dir():
        found = [p for p in path.rglob("*")]
    elif path.is_file():
        found = [path]
    else:
        raise BillingFileError(f"COST_SOURCE_URI={uri!r}: no such file or folder")
    return [BillingFile(uri=str(p), size=p.stat().st_size) for p in found if p.is_file() and is_data_file(p.name)]


def _list_s3(uri: str) -> list[BillingFile]:
    bucket, _, pattern = uri.removeprefix("s3://").partition("/")
    glob_at = min([pattern.index(c) for c in GLOB_CHARS if c in pattern], default=None)
    prefix = pattern if glob_at is None else pattern[:glob_at]
    files = []
    try:
        for page in s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                if glob_at is not None and not fnmatch.fnmatchcase(key, pattern):
                    continue
                if is_data_file(key):
                    files.append(BillingFile(uri=f"s3://{bucket}/{key}", size=item["Size"], etag=item["ETag"]))
    except (ClientError, BotoCoreError) as exc:
        raise BillingFileError(f"COST_SOURCE_URI={uri!r}: cannot list the bucket: {exc}") from exc
    return files


# --- S3 reads ----------------------------------------------------------------


class S3ObjectReader(io.RawIOBase):
    """A seekable read-only view of one S3 object, fetched in ranges pinned to its ETag."""

    def __init__(self, client, file: BillingFile):
        self._client = client
        self._file = file
        self._bucket, self._key = file.bucket_and_key
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._file.size}[whence]
        self._position = max(base + offset, 0)
        return self._position

    def readinto(self, buffer) -> int:
        if self._position >= self._file.size:
            return 0
        end = min(self._position + len(buffer), self._file.size) - 1
        request = {"Bucket": self._bucket, "Key": self._key, "Range": f"bytes={self._position}-{end}"}
        if self._file.etag:
            request["IfMatch"] = self._file.etag
        try:
            data = self._client.get_object(**request)["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404"):
                raise BillingFileError(f"{self._file.uri} vanished while it was being read") from exc
            if code in ("PreconditionFailed", "412"):
                raise BillingFileError(f"{self._file.uri} was replaced while it was being read") from exc
            raise BillingFileError(f"{self._file.uri} cannot be read: {exc}") from exc
        except BotoCoreError as exc:
            raise BillingFileError(f"{self._file.uri} cannot be read: {exc}") from exc
        if not data:
            raise BillingFileError(f"{self._file.uri} ended early at byte {self._position} of {self._file.size}")
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


def open_file(file: BillingFile, client=None) -> BinaryIO:
    if file.is_s3:
        return io.BufferedReader(S3ObjectReader(client or s3_client(), file), buffer_size=S3_READ_BYTES)
    return open(file.uri, "rb")


# --- reading -------------------------------------------------------------------


def _csv_stream(handle: BinaryIO, file: BillingFile):
    stream = pa.PythonFile(handle, mode="r")
    return pa.CompressedInputStream(stream, "gzip") if file.is_gzip else stream


def _csv_reader(handle: BinaryIO, file: BillingFile, columns: list[str] | None):
    """A streaming CSV reader of `columns`, or (None) one that only reads the header and first rows."""
    convert = pa_csv.ConvertOptions(null_values=CSV_NULL_VALUES, strings_can_be_null=True, quoted_strings_can_be_null=True)
    block = CSV_HEADER_BLOCK_BYTES
    if columns is not None:
        # Everything as text: each value is parsed per row, so one bad value rejects a row, not the file.
        convert.include_columns = columns
        convert.column_types = {c: pa.string() for c in columns}
        block = CSV_BLOCK_BYTES
    return pa_csv.open_csv(_csv_stream(handle, file), read_options=pa_csv.ReadOptions(block_size=block),
                           convert_options=convert)


def _wrap_errors(file: BillingFile, exc: Exception) -> Exception:
    if isinstance(exc, (BillingFileError, BadCostDataError)):
        return exc
    return BillingFileError(f"{file.uri} cannot be read: {exc}")


def file_columns(file: BillingFile, client=None) -> list[str]:
    """The column names of a file (Parquet footer, or the CSV header)."""
    try:
        with open_file(file, client) as handle:
            if file.is_parquet:
                return list(pq.ParquetFile(handle).schema_arrow.names)
            return list(_csv_reader(handle, file, None).schema.names)
    except Exception as exc:  # noqa: BLE001 - every failure is reported naming the file
        raise _wrap_errors(file, exc) from exc


def read_batches(
    file: BillingFile,
    columns: list[str],
    client=None,
    skip_row_group=None,
    batch_rows: int = PARQUET_BATCH_ROWS,
    dictionary_columns: tuple[str, ...] = (),
) -> Iterator[tuple[int, pa.Table]]:
    """Yield (row number of the first row, table of `columns`) for a file, batch by batch.

    Row numbers are 1-based data rows (a CSV header is not counted).
    `skip_row_group(statistics_by_column)` lets a caller skip Parquet row
    groups whose statistics show they lie outside the wanted days.
    Parquet text columns named in `dictionary_columns` (and the keys and
    values of such a map column) are read dictionary-encoded: billing text
    repeats, so each distinct value is decoded once.
    """
    try:
        with open_file(file, client) as handle:
            if file.is_parquet:
                metadata = pq.read_metadata(handle)
                schema = metadata.schema
                wanted = [schema.column(i).path for i in range(len(schema))
                          if schema.column(i).path.split(".")[0] in dictionary_columns
                          and schema.column(i).physical_type == "BYTE_ARRAY"]
                handle.seek(0)
                parquet = pq.ParquetFile(handle, metadata=metadata, read_dictionary=wanted or None)
                yield from _parquet_batches(parquet, columns, skip_row_group, batch_rows)
            else:
                row = 1
                for batch in _csv_reader(handle, file, columns):
                    yield row, pa.Table.from_batches([batch])
                    row += batch.num_rows
    except GeneratorExit:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure is reported naming the file
        raise _wrap_errors(file, exc) from exc


def prefetched(batches: Iterator[T]) -> Iterator[T]:
    """The items of `batches`, each next one read in a background thread while the caller
    works on the current one (Arrow's file reads let go of the GIL); at most two are held."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        try:
            upcoming = pool.submit(next, batches, _DONE)
            while (item := upcoming.result()) is not _DONE:
                upcoming = pool.submit(next, batches, _DONE)
                yield item
        finally:
            upcoming.cancel()
            wait([upcoming])
            close = getattr(batches, "close", None)
            if close is not None:
                close()  # the file is closed as soon as the caller stops


def _parquet_batches(parquet: pq.ParquetFile, columns: list[str], skip_row_group,
                     batch_rows: int) -> Iterator[tuple[int, pa.Table]]:
    row = 1
    metadata = parquet.metadata
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        if skip_row_group is not None and skip_row_group(_statistics(group)):
            row += group.num_rows
            continue
        for batch in parquet.iter_batches(batch_size=batch_rows, row_groups=[index], columns=columns):
            yield row, pa.Table.from_batches([batch])
            row += batch.num_rows


def _statistics(group) -> dict[str, tuple]:
    """Column name -> (min, max) where the row group has statistics."""
    found = {}
    for i in range(group.num_columns):
        column = group.column(i)
        stats = column.statistics
        if stats is not None and stats.has_min_max:
            found[column.path_in_schema] = (stats.min, stats.max)
    return found
