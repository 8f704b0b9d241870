//! Serial input: any byte stream, in any chunking, through the frame decoder and the message decoder the daemon runs
//! on its UART. No panic; every accepted frame re-encodes to a frame that decodes to the same payload; every
//! accepted message re-encodes to the same bytes.
#![no_main]
use avf_bel::link::frame::{self, Decoder};
use avf_bel::link::{Message, MessageDecoder, MAX_FRAME, MAX_PAYLOAD};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte chooses the chunk size, as reads from a serial port split a stream anywhere.
    let Some((&split, stream)) = data.split_first() else { return };
    let chunk = usize::from(split).max(1);
    let mut dec: Decoder<64> = Decoder::new();
    let mut msgs = MessageDecoder::new();
    for c in stream.chunks(chunk) {
        dec.for_each(c, |r| {
            if let Ok(p) = r {
                let mut f = [0u8; frame::max_frame_len(64)];
                let n = frame::encode(p, &mut f).expect("an accepted payload fits its own frame");
                let mut again: Decoder<64> = Decoder::new();
                let (_, back) = again.push(&f[..n]);
                assert_eq!(back, Some(Ok(p)));
            }
        });
        avf_bel::link::decode_stream(&mut msgs, c, |r| {
            if let Ok(m) = r {
                // Re-encoding gives a frame that decodes to a message with the same bytes (a NaN-safe comparison).
                let mut f = [0u8; MAX_FRAME];
                let n = m.encode_frame(&mut f).expect("a decoded message re-encodes");
                let mut d = MessageDecoder::new();
                let (_, back) = d.push(&f[..n]);
                let p = back.expect("one whole frame").expect("its CRC holds");
                let mut p0 = [0u8; MAX_PAYLOAD];
                let k = m.encode(&mut p0).expect("fits");
                assert_eq!(p, &p0[..k]);
                assert!(Message::decode(p).is_ok());
            }
        });
    }
});
