//! Socket input: any bytes as one SOCK_SEQPACKET packet, decoded as the daemon does (`Message::decode` of the whole
//! packet), and the daemon's reward check. No panic; an accepted packet fits the daemon's receive buffer and its
//! message re-encodes stably; `valid_reward` accepts exactly the finite rewards in 0..=1.
#![no_main]
use avf_bel::link::daemon::valid_reward;
use avf_bel::link::{Message, MAX_PAYLOAD};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|packet: &[u8]| {
    let Ok(m) = Message::decode(packet) else { return };
    assert!(packet.len() <= MAX_PAYLOAD, "a {}-byte packet decoded (max payload {MAX_PAYLOAD})", packet.len());
    let mut a = [0u8; MAX_PAYLOAD];
    let n = m.encode(&mut a).expect("a decoded message re-encodes");
    let again = Message::decode(&a[..n]).expect("a re-encoded message decodes");
    let mut b = [0u8; MAX_PAYLOAD];
    let k = again.encode(&mut b).expect("and re-encodes again");
    assert_eq!(&a[..n], &b[..k], "encoding is stable");
    if let Message::Reward(r) = m {
        let in_range = r.reward.iter().all(|x| x.is_finite() && (0.0..=1.0).contains(x));
        assert_eq!(valid_reward(&r), in_range, "{:?}", r.reward);
    }
});
