//! Rewards as the daemon applies them: a sequence of packets (`[len][payload]`…), each decoded; every reward the
//! daemon's check accepts trains BEL on a tiny pipeline (primed once per process, BEL restored per input), between
//! read-outs. No panic; every accepted reward is
//! learned without error; BEL stays finite and bounded; every read-out stays in 0–1.
#![no_main]
use avf_bel::link::daemon::valid_reward;
use avf_bel::link::Message;
use avf_bel::Modalities;
use avf_bel_fuzz::{check_bel, check_output, with_primed_pipeline};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    with_primed_pipeline(|p| {
        let mut rest = data;
        while let Some((&len, tail)) = rest.split_first() {
            let (packet, next) = tail.split_at(usize::from(len).min(tail.len()));
            rest = next;
            if let Ok(Message::Reward(r)) = Message::decode(packet) {
                if valid_reward(&r) {
                    p.learn(&r.reward).expect("a reward the daemon accepts is learned");
                    check_bel(p);
                    check_output(&p.peek(Modalities::VIDEO).expect("reads out after learning"));
                }
            }
        }
    });
});
