"""Kafka wire encoding with the standard library alone: CRC-32C, the fixed-width and varint
fields of non-flexible requests, and uncompressed record batches v2. Shared by the compat tests'
raw-protocol helpers (conftest.py) and bench/broker/tools.py, which sends prebuilt batches."""

from __future__ import annotations

import struct


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _make_crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _make_crc32c_table()


def i8(v): return struct.pack(">b", v)
def i16(v): return struct.pack(">h", v)
def i32(v): return struct.pack(">i", v)
def i64(v): return struct.pack(">q", v)


def string(s: str | None) -> bytes:
    if s is None:
        return i16(-1)
    b = s.encode()
    return i16(len(b)) + b


def array(items, encode) -> bytes:
    return i32(len(items)) + b"".join(encode(x) for x in items)


def uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def varint(n: int) -> bytes:
    return uvarint((n << 1) ^ (n >> 63))


def build_record_batch(records: list[tuple[bytes | None, bytes | None, tuple]], base_timestamp: int,
                       corrupt_crc: bool = False) -> bytes:
    """An uncompressed record batch v2 (CreateTime, no producer id) with base offset 0."""
    body = bytearray()
    for delta, (key, value, headers) in enumerate(records):
        rec = bytearray(i8(0) + varint(0) + varint(delta))
        rec += varint(-1) if key is None else varint(len(key)) + key
        rec += varint(-1) if value is None else varint(len(value)) + value
        rec += varint(len(headers))
        for name, hv in headers:
            nb = name.encode()
            rec += varint(len(nb)) + nb
            rec += varint(-1) if hv is None else varint(len(hv)) + hv
        body += varint(len(rec)) + rec
    return batch_around(bytes(body), len(records), base_timestamp, corrupt_crc)


def batch_around(records_section: bytes, count: int, base_timestamp: int, corrupt_crc: bool = False) -> bytes:
    """The header of an uncompressed record batch v2 around `count` records given as raw bytes,
    with a CRC that matches them unless `corrupt_crc`."""
    after_crc = (i16(0) + i32(count - 1) + i64(base_timestamp) + i64(base_timestamp)
                 + i64(-1) + i16(-1) + i32(-1) + i32(count) + records_section)
    crc = crc32c(after_crc) ^ (1 if corrupt_crc else 0)
    after_length = i32(0) + i8(2) + struct.pack(">I", crc) + after_crc
    return i64(0) + i32(len(after_length)) + after_length
