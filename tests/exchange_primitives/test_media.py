"""Media-mode packages (DX-1, DX-2): round trip, and every kind of bad package refused before any record."""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from typing import Any

import pytest

from engine.exchange import media
from engine.exchange.media import MediaKey
from engine.exchange.media import PackageReader
from engine.exchange.media import read_header
from engine.exchange.media import write_package

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
SECRET = bytes(range(32))
KEY = MediaKey("CC-BANK", "k2026", SECRET)
KEYS = {("CC-BANK", "k2026"): SECRET}


def people(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {"line": i, "name": f"测试{i}", "id_number": f"22010419800101{i:04d}", "categories": ["deposits"]}


def package(n: int = 25, *, algorithm: str | None = None, kind: str = "request", batch: str = "B-1",
            key: MediaKey = KEY, chunk_records: int = 10) -> bytes:
    out = io.BytesIO()
    write_package(out, people(n), key=key, kind=kind, batch_id=batch, sender_unit="CY-HDZX",
                  receiver_unit="CC-BANK", created_at=T0, algorithm=algorithm, chunk_records=chunk_records,
                  extra={"persons": n})
    return out.getvalue()


def reader(data: bytes, keys: Any = KEYS, **expect: Any) -> PackageReader:
    expect = {"kind": "request", "batch_id": "B-1", "sender_unit": "CY-HDZX", "receiver_unit": "CC-BANK"} | expect
    return PackageReader(io.BytesIO(data), keys, **expect)


def frames(data: bytes) -> tuple[bytes, list[bytes]]:
    """Split a package into its preamble+header and its frames (for surgical tampering)."""
    _, _, length = struct.unpack(">8sHI", data[:14])
    position, out = 14 + length, []
    while position < len(data):
        size = struct.unpack(">BI", data[position:position + 5])[1]
        end = position + 5 + media.NONCE_BYTES + size
        out.append(data[position:end])
        position = end
    return data[:14 + length], out


def refused(data: bytes, code: str, **kwargs: Any) -> media.PackageError:
    """The package is refused by verify() AND by records() before the first record is yielded."""
    with pytest.raises(media.PackageError) as first:
        reader(data, **kwargs).verify()
    with pytest.raises(media.PackageError) as second:
        next(iter(reader(data, **kwargs).records()))
    assert first.value.code == second.value.code == code, (first.value.code, second.value.code)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in first.value.message)  # a Chinese message
    return first.value


@pytest.mark.parametrize("algorithm", media.ALGORITHMS)
def test_round_trip(algorithm: str) -> None:
    data = package(25, algorithm=algorithm)
    r = reader(data)
    manifest = r.verify()
    assert (manifest.kind, manifest.batch_id, manifest.sender_unit, manifest.receiver_unit) == (
        "request", "B-1", "CY-HDZX", "CC-BANK")
    assert (manifest.algorithm, manifest.key_unit, manifest.key_id) == (algorithm, "CC-BANK", "k2026")
    assert (manifest.record_count, manifest.chunk_count, manifest.extra) == (25, 4, {"persons": 25})
    assert manifest.created_at == "2026-11-23T01:00:00+00:00"
    assert list(r.records()) == list(people(25))
    assert "测试".encode() not in data and b"220104" not in data  # nothing readable without the key


def test_sm4_is_the_default_where_available_and_aes_otherwise() -> None:
    assert media.SM4_GCM_AVAILABLE  # the pinned cryptography wheel has it
    assert media.DEFAULT_ALGORITHM == "SM4-GCM"
    assert read_header(io.BytesIO(package())).algorithm == "SM4-GCM"


def test_a_package_needing_a_cipher_this_build_lacks_is_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    data = package(algorithm="SM4-GCM")
    monkeypatch.setattr(media, "ALGORITHMS", ("AES-256-GCM",))
    refused(data, "package_unsupported_version")


def test_empty_batch_and_manifest_digest() -> None:
    r = reader(package(0))
    assert r.verify().record_count == 0
    assert list(r.records()) == []
    import hashlib

    from engine.exchange.signing import canonical_json
    expected = hashlib.sha256(b"".join(canonical_json(p) + b"\n" for p in people(3))).hexdigest()
    assert reader(package(3)).verify().records_sha256 == expected


def test_read_header_peeks_without_the_key_and_restores_the_position() -> None:
    stream = io.BytesIO(package())
    header = read_header(stream)
    assert (header.batch_id, header.record_count) == ("B-1", None)  # counts are inside, authenticated
    assert stream.tell() == 0


def test_every_single_byte_flip_is_refused() -> None:
    data = package(12, chunk_records=5)
    codes = set()
    for position in range(len(data)):
        bad = bytearray(data)
        bad[position] ^= 0x01
        with pytest.raises(media.PackageError) as exc:
            reader(bytes(bad)).verify()
        codes.add(exc.value.code)
    # a flipped salt/key-check reads as "not our key"; lengths may read as truncation
    assert codes <= {"package_tampered", "package_foreign", "package_truncated", "package_unsupported_version"}
    assert "package_tampered" in codes


def test_a_changed_header_field_is_tampering() -> None:
    data = package()
    bad = data.replace(b'"batch_id":"B-1"', b'"batch_id":"B-2"')
    assert bad != data
    refused(bad, "package_tampered", batch_id="B-2")


def test_reordered_dropped_and_duplicated_frames_are_refused() -> None:
    head, parts = frames(package(30, chunk_records=10))
    assert len(parts) == 4  # three record frames and the final trailer
    refused(head + parts[1] + parts[0] + parts[2] + parts[3], "package_tampered")
    refused(head + parts[0] + parts[2] + parts[3], "package_tampered")
    refused(head + parts[0] + parts[0] + parts[1] + parts[2] + parts[3], "package_tampered")
    refused(head + b"".join(parts[:3]), "package_truncated")  # the final frame is missing
    refused(head + b"".join(parts) + b"\0", "package_tampered")  # trailing bytes


def test_frames_swapped_in_from_another_package_of_the_same_batch_are_refused() -> None:
    head_a, parts_a = frames(package(30, chunk_records=10))
    _, parts_b = frames(package(30, chunk_records=10))
    refused(head_a + parts_a[0] + parts_b[1] + parts_a[2] + parts_a[3], "package_tampered")


@pytest.mark.parametrize("cut", [3, 20, -1, -30, -200])
def test_truncated_files_are_refused(cut: int) -> None:
    data = package()
    refused(data[:cut], "package_truncated" if cut != 3 else "package_tampered")


def test_not_a_package() -> None:
    refused(b"PK\x03\x04 a zip file, not a package", "package_tampered")
    refused(b"", "package_tampered")


def test_unknown_format_version() -> None:
    data = package()
    refused(data[:8] + struct.pack(">H", 2) + data[10:], "package_unsupported_version")


def test_foreign_keys_and_units_are_refused() -> None:
    data = package()
    refused(data, "package_foreign", keys={("CC-BANK", "k2026"): bytes(32)})  # another secret
    refused(data, "package_foreign", keys={("CC-BANK", "k2025"): SECRET})  # no key with that id
    refused(data, "package_foreign", keys=lambda unit, key_id: None)
    refused(data, "package_foreign", sender_unit="NG-HDZX")
    refused(data, "package_foreign", receiver_unit="CC-SW")
    other = package(key=MediaKey("CC-SW", "k2026", SECRET))  # key of a unit that is neither party
    refused(other, "package_foreign", keys={("CC-SW", "k2026"): SECRET})


def test_wrong_kind_and_wrong_batch_are_refused() -> None:
    refused(package(kind="result"), "package_wrong_kind")
    refused(package(batch="B-7"), "package_wrong_batch")
    assert reader(package(batch="B-7"), batch_id=None).verify().batch_id == "B-7"


def test_a_file_changed_after_verification_is_refused_while_reading() -> None:
    head, parts = frames(package(30, chunk_records=10))
    stream = io.BytesIO(head + b"".join(parts))
    r = PackageReader(stream, KEYS, kind="request")
    r.verify()
    stream.seek(len(head) + len(parts[0]) + 30)
    stream.write(b"\xff")
    stream.seek(0)
    seen = []
    with pytest.raises(media.PackageTamperedError):
        for record in r.records():
            seen.append(record)
    assert len(seen) == 10  # only the first, still authentic, frame


class _CountingReader(io.BytesIO):
    largest = 0

    def read(self, size: int | None = -1) -> bytes:  # type: ignore[override]
        data = super().read(size)
        self.largest = max(self.largest, len(data))
        return data


def test_reading_and_writing_stream_in_bounded_chunks() -> None:
    produced = []

    def source() -> Iterator[dict[str, Any]]:
        for record in people(2000):
            produced.append(record["line"])
            yield record

    class Sink(io.BytesIO):
        sizes_when_written: list[int] = []

        def write(self, data: bytes) -> int:  # type: ignore[override]
            self.sizes_when_written.append(len(produced))
            return super().write(data)

    sink = Sink()
    write_package(sink, source(), key=KEY, kind="request", batch_id="B-1", sender_unit="CY-HDZX",
                  receiver_unit="CC-BANK", created_at=T0, chunk_records=100)
    assert sink.sizes_when_written[1] <= 101  # the first frame was written long before the source ran dry
    stream = _CountingReader(sink.getvalue())
    r = PackageReader(stream, KEYS, kind="request")
    assert sum(1 for _ in r.records()) == 2000
    assert stream.largest < len(sink.getvalue()) / 10


def test_writer_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError):
        write_package(io.BytesIO(), [], key=MediaKey("CC-BANK", "k", b"short"), kind="request", batch_id=1,
                      sender_unit="A", receiver_unit="B", created_at=T0)
    with pytest.raises(ValueError):
        write_package(io.BytesIO(), [], key=KEY, kind="answer", batch_id=1, sender_unit="A", receiver_unit="B",
                      created_at=T0)
    with pytest.raises(media.PackageUnsupportedVersionError):
        write_package(io.BytesIO(), [], key=KEY, kind="request", batch_id=1, sender_unit="A", receiver_unit="B",
                      created_at=T0, algorithm="DES")
    assert "0001020304" not in repr(KEY) and "k2026" in repr(KEY)


def test_the_benchmark_phases_and_report_run_on_a_small_batch(tmp_path: Any) -> None:
    from tests.perf import bench_exchange_media as bench

    request, result = tmp_path / "request.hdpkg", tmp_path / "result.hdpkg"
    assert bench.export_phase(30, request)["records"] == 30
    bench._write(result, bench.result_records(30), "result")
    imported = bench.import_phase(30, result)
    assert imported["records"] == 120 and 0 < imported["answers_with_data"] <= 120
    rows = [{"phase": p, "persons": n, "records": n, "bytes": 1024, "seconds": 0.1, "cpu_seconds": 0.1,
             "peak_rss_mib": 30.0, "traced_peak_mib": 0.3} for n in (1000, 10000) for p in ("export", "import")]
    section = bench.markdown(rows)
    assert section.startswith(bench.START) and section.rstrip().endswith(bench.END)
    assert "| export of 10,000 persons < 30 s | 0.10 s met |" in section


def test_a_header_with_wrong_field_types_is_tampering() -> None:
    data = package()
    bad = data.replace(b'"key_id":"k2026"', b'"key_id":12345')
    bad = bad[:10] + struct.pack(">I", struct.unpack(">I", data[10:14])[0] - 2) + bad[14:]
    refused(bad, "package_tampered")


def test_unusual_characters_survive_the_round_trip() -> None:
    records = [{"name": "王\u2028五\x85", "note": "line\nbreak\r\t\"quoted\" 𠀀"}, {"empty": ""}, {}]
    out = io.BytesIO()
    write_package(out, records, key=KEY, kind="result", batch_id="B-1", sender_unit="CC-BANK",
                  receiver_unit="CY-HDZX", created_at=T0)
    r = PackageReader(io.BytesIO(out.getvalue()), KEYS, kind="result")
    assert r.verify().record_count == 3
    assert list(r.records()) == records


@pytest.mark.parametrize("trailer", [
    {"record_count": 3, "chunk_count": 2, "records_sha256": "0" * 64},  # digest does not match
    {"record_count": 4, "chunk_count": 2, "records_sha256": None},  # wrong type
    {"record_count": 2, "chunk_count": 2},  # incomplete
    "not an object",
])
def test_a_trailer_that_disagrees_with_the_records_is_refused(trailer: Any) -> None:
    """Even from the key holder (a buggy unit system): counts and digest must match what is inside."""
    from engine.exchange.signing import canonical_json

    out = io.BytesIO()
    writer = media.PackageWriter(out, key=KEY, kind="request", batch_id="B-1", sender_unit="CY-HDZX",
                                 receiver_unit="CC-BANK", created_at=T0)
    for record in people(3):
        writer.write(record)
    writer._flush()
    writer._frame(canonical_json(trailer), final=True)
    refused(out.getvalue(), "package_tampered")
