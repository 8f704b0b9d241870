"""The codec against the golden examples of docs/wire.md, both directions, and its refusals."""

import math

import pytest

from avf_bel_link import (
    EMOTIONS,
    DecodeError,
    FrameDecoder,
    Heartbeat,
    Reward,
    Sample,
    SceneCut,
    crc32c,
    decode_payload,
    encode_frame,
    encode_payload,
    frame,
    unframe,
)
from avf_bel_link.wire import cobs_decode, cobs_encode, decode_stream, epp_of

HASH = 0x0123456789ABCDEF


def test_crc32c_check_value():
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0


def test_golden_sample_decodes_to_the_documented_fields(golden):
    g = golden["sample"]
    assert crc32c(g["payload"]) == g["crc"]
    s = decode_payload(g["payload"])
    assert isinstance(s, Sample)
    assert (s.seq, s.capture_ns, s.publish_ns) == (300, 1_000_000_000, 1_000_250_000)
    assert s.epp == 0.5 and s.emotions == (0.25, 1.0, 0.5, 0.0, 0.125) and s.confidence == 0.75
    assert s.flags == 0x03 and s.audio_ok and s.video_ok and not s.degraded and not s.warming_up
    assert s.has_estimate and s.status == ["audio_ok", "video_ok"]
    assert s.model_hash == HASH and s.emotion("happy") == 1.0 and s.latency_ns() == 250_000
    assert decode_payload(unframe(g["frame"][:-1])) == s


def test_golden_sample_encodes_to_the_documented_bytes(golden):
    s = Sample(300, 1_000_000_000, 1_000_250_000, 0.5, (0.25, 1.0, 0.5, 0.0, 0.125), 0.75, 0x03, HASH)
    assert encode_payload(s) == golden["sample"]["payload"]
    assert encode_frame(s) == golden["sample"]["frame"]


def test_golden_sample_without_an_estimate_both_ways(golden):
    g = golden["no_estimate"]
    s = decode_payload(unframe(g["frame"][:-1]))
    assert s.seq == 301 and not s.has_estimate and s.degraded and s.flags == 0x28
    assert math.isnan(s.epp) and all(math.isnan(e) for e in s.emotions) and s.confidence == 0.0
    rec = s.to_record()
    assert rec["epp"] is None and rec["emotions"] is None and rec["status"] == ["degraded", "no_estimate"]
    built = Sample.without_estimate(301, 1_000_000_000, 1_000_250_000, 0x08, HASH)
    assert encode_payload(built) == g["payload"]  # the quiet NaN 00 00 c0 7f, byte for byte
    assert encode_frame(built) == g["frame"]
    assert crc32c(g["payload"]) == g["crc"]


def test_golden_heartbeat_both_ways(golden):
    g = golden["heartbeat"]
    h = decode_payload(unframe(g["frame"][:-1]))
    assert h == Heartbeat(7, 2_000_000_000, 210, 0, 5, 0x13, HASH)
    assert h.to_record()["model_hash"] == "0123456789abcdef"
    assert encode_payload(h) == g["payload"] and encode_frame(h) == g["frame"]
    assert crc32c(g["payload"]) == g["crc"]


def test_golden_reward_both_ways(golden):
    g = golden["reward"]
    r = Reward(301, (0.0, 1.0, 0.5, 0.0, 0.0))
    assert encode_payload(r) == g["payload"] and encode_frame(r) == g["frame"]
    assert decode_payload(g["payload"]) == r
    assert crc32c(g["payload"]) == g["crc"]


def test_golden_scene_cut_both_ways(golden):
    g = golden["scene_cut"]
    c = SceneCut(301)
    assert encode_payload(c) == g["payload"] and encode_frame(c) == g["frame"]
    assert decode_payload(g["payload"]) == c and decode_payload(unframe(g["frame"][:-1])) == c
    assert crc32c(g["payload"]) == g["crc"]
    with pytest.raises(ValueError):
        SceneCut(2**32)
    with pytest.raises(DecodeError):
        decode_payload(bytes([0x02, 0x04, 0xAD, 0x02]))  # tag 4 is still unknown


def test_json_record_matches_avf_bel_read(golden):
    rec = decode_payload(golden["sample"]["payload"]).to_record()
    assert list(rec) == ["type", "seq", "capture_ns", "publish_ns", "epp", "emotions", "confidence", "flags",
                         "status", "model_hash"]
    assert rec["emotions"] == dict(zip(EMOTIONS, (0.25, 1.0, 0.5, 0.0, 0.125)))
    assert rec["model_hash"] == "0123456789abcdef"


def test_epp_weights():
    assert epp_of((0.25, 1.0, 0.5, 0.0, 0.125)) == pytest.approx((0.75 + 5 + 2 + 0.125) / 15)


@pytest.mark.parametrize(
    "payload, why",
    [
        (b"", "ends early"),
        (b"\x01\x00", "protocol version 1"),
        (b"\x02\x07", "unknown message tag 7"),
        (b"\x02\x02\xad\x02" + b"\x00" * 19, "ends early"),
        (b"\x02\x02\xad\x02" + b"\x00" * 21, "1 bytes left"),
        (b"\x02\x02\xff\xff\xff\xff\x7f" + b"\x00" * 20, "overflows u32"),
        (b"\x02\x02\xff\xff\xff\xff\xff\x01" + b"\x00" * 20, "longer than 5 bytes"),
    ],
)
def test_bad_payloads_are_refused_with_a_reason(payload, why):
    with pytest.raises(DecodeError, match=why):
        decode_payload(payload)


def test_bad_frames_are_refused(golden):
    f = bytearray(golden["sample"]["frame"][:-1])
    f[20] ^= 0x04
    with pytest.raises(DecodeError, match="CRC"):
        unframe(bytes(f))
    with pytest.raises(DecodeError, match="at least 5"):
        unframe(cobs_encode(b"\x02\x00"))
    with pytest.raises(DecodeError, match="COBS"):
        unframe(b"\x09\x02")


def test_cobs_round_trips_around_the_254_byte_boundary():
    for n in (0, 1, 253, 254, 255, 300, 508, 509):
        for data in (bytes(range(1, 256)) * 3, b"\x00" * 600, bytes((i * 7) % 256 for i in range(600))):
            d = data[:n]
            enc = cobs_encode(d)
            assert b"\x00" not in enc
            assert cobs_decode(enc) == d
    assert cobs_encode(b"\x01" * 254) == b"\xff" + b"\x01" * 254 + b"\x01"


def test_stream_resynchronises_after_noise_and_split_reads(golden):
    good = [golden[k]["frame"] for k in ("sample", "heartbeat", "no_estimate")]
    noise = b"\x13\x37\xfe" * 40 + b"\x00"  # an overlong garbage frame, then the delimiter
    corrupt = bytearray(good[0])
    corrupt[10] ^= 0x01
    stream = b"\x00" + good[0] + noise + bytes(corrupt) + good[1] + b"\x00\x00" + good[2]
    msgs, bad = decode_stream(stream)
    assert [type(m).__name__ for m in msgs] == ["Sample", "Heartbeat", "Sample"]
    assert bad == 2
    # One byte at a time gives the same.
    d = FrameDecoder()
    one = [m for i in range(len(stream)) for m in d.feed(stream[i : i + 1])]
    assert [encode_payload(m) for m in one] == [encode_payload(m) for m in msgs] and d.bad == 2  # NaN != NaN


def test_rewards_out_of_range_are_refused_before_sending():
    for bad in ([0, 1, 0.5, 0], [0, 1, 2, 0, 0], [0, float("nan"), 0, 0, 0], [-0.1, 0, 0, 0, 0]):
        with pytest.raises(ValueError):
            Reward(1, tuple(bad))
    with pytest.raises(ValueError):
        Reward(2**32, (0, 0, 0, 0, 0))


def test_largest_sample_fits_the_documented_bounds():
    s = Sample(2**32 - 1, 2**64 - 1, 2**64 - 1, 1.0, (1.0,) * 5, 1.0, 0xFF, 2**64 - 1)
    p = encode_payload(s)
    assert len(p) == 66 and len(frame(p)) <= 72
    assert decode_payload(p) == s
