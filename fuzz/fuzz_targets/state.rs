//! State files: any bytes through `state::decode`, and a decoded state applied onto a tiny pipeline's BEL, which
//! then reads out and learns (the pipeline is primed once per process; BEL is restored before each input). No panic; a state that applies leaves BEL finite and bounded and its read-outs in 0–1.
//!
//! The first byte is a mode: bit 0 recomputes the CRC-32C trailer (else almost every mutation stops at the
//! checksum and the checks behind it would never run); bit 1 applies with the file's own model hash (else with the
//! tiny model's, as the daemon does).
#![no_main]
use avf_bel::link::frame::CRC32C;
use avf_bel::link::state;
use avf_bel::{Modalities, N_EMOTIONS};
use avf_bel_fuzz::{check_bel, check_output, with_primed_pipeline};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else { return };
    let mut file = body.to_vec();
    if mode & 1 != 0 && file.len() >= 4 {
        let n = file.len() - 4;
        let crc = CRC32C.checksum(&file[..n]);
        file[n..].copy_from_slice(&crc.to_le_bytes());
    }
    let Ok(s) = state::decode(&file) else { return };
    let k = s.amygdala.len() / N_EMOTIONS;
    assert_eq!(file.len(), state::file_len(k));
    assert_eq!(
        (s.amygdala.len(), s.thalamus.len(), s.orbitofrontal.len()),
        (N_EMOTIONS * k, N_EMOTIONS, N_EMOTIONS * k)
    );
    with_primed_pipeline(|p| {
        let hash = if mode & 2 != 0 { s.model_hash } else { p.model_hash() };
        if s.apply(p.bel_mut(), hash).is_err() {
            return;
        }
        check_bel(p);
        check_output(&p.peek(Modalities::VIDEO).expect("reads out with the loaded state"));
        p.learn(&[1.0, 0.0, 0.5, 0.0, 1.0]).expect("learns from the loaded state");
        check_bel(p);
        // What the daemon would save next decodes to what BEL holds.
        let again = state::decode(&state::encode(p.bel(), hash, s.updates)).expect("a saved state decodes");
        assert_eq!(again.amygdala, p.bel().amygdala());
    });
});
