//! `serve --ros2` against a subscriber in the same DDS implementation (ros2-client over RustDDS), on the loopback
//! interface only (`ROS_LOCALHOST_ONLY=1`, a domain id of its own), bounded in time: EPP and the emotions arrive as
//! `std_msgs` messages on the documented topics, a reward published on `/avf_bel/reward` is applied by BEL, and a
//! `std_msgs/msg/Empty` on `/avf_bel/scene_cut` restarts the visual background (counted in the daemon's statistics).
//! Not checked here: a ROS 2 installation's own nodes (rclcpp/rclpy over Fast DDS or Cyclone DDS); see the README.

#![cfg(feature = "ros2")]

mod common;
use avf_bel::link::ros2::{self, Empty, Float32, Float32MultiArray, UInt8};
use avf_bel::EMOTIONS;
use common::{command, Reaped};
use ros2_client::{NodeName, NodeOptions};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn serve_publishes_epp_and_emotions_and_takes_rewards_over_dds() {
    // A domain of its own (0–232), so parallel runs and other DDS users on this host do not mix.
    let domain = (std::process::id() % 200 + 20).to_string();
    std::env::set_var("ROS_DOMAIN_ID", &domain);
    std::env::set_var("ROS_LOCALHOST_ONLY", "1");
    let context = ros2::context().unwrap();
    let mut node =
        context.new_node(NodeName::new("/", "avf_bel_test").unwrap(), NodeOptions::new().enable_rosout(false)).unwrap();
    let epp_t = ros2::topic(&node, "epp", "Float32").unwrap();
    let emo_t = ros2::topic(&node, "emotions", "Float32MultiArray").unwrap();
    let flags_t = ros2::topic(&node, "flags", "UInt8").unwrap();
    let reward_t = ros2::topic(&node, "reward", "Float32MultiArray").unwrap();
    let epp_sub = node.create_subscription::<Float32>(&epp_t, None).unwrap();
    let emo_sub = node.create_subscription::<Float32MultiArray>(&emo_t, None).unwrap();
    let flags_sub = node.create_subscription::<UInt8>(&flags_t, None).unwrap();
    let reward_pub = node.create_publisher::<Float32MultiArray>(&reward_t, None).unwrap();
    let cut_t = ros2::topic(&node, "scene_cut", "Empty").unwrap();
    let cut_pub = node.create_publisher::<Empty>(&cut_t, None).unwrap();

    let daemon = Reaped::new(
        command()
            .args([
                "serve",
                "--ros2",
                "--audio",
                "synth://happy",
                "--video",
                "synth://happy",
                "--duration",
                "8",
                "--stats",
            ])
            .args(["--window", "1", "--warmup", "0.2"])
            .env("ROS_DOMAIN_ID", &domain)
            .env("ROS_LOCALHOST_ONLY", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );

    let (mut epps, mut emotions, mut flags) = (Vec::new(), Vec::new(), 0usize);
    let (mut rewards_sent, mut cuts_sent) = (0, 0);
    let mut next_reward = None;
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(7) && (epps.len() < 30 || rewards_sent < 5 || cuts_sent < 3) {
        while let Ok(Some((m, _))) = epp_sub.take() {
            epps.push(m.data);
        }
        while let Ok(Some((m, _))) = emo_sub.take() {
            emotions.push(m);
        }
        while let Ok(Some(_)) = flags_sub.take() {
            flags += 1;
        }
        // Once samples flow (discovery done), send a few rewards, 200 ms apart.
        if !epps.is_empty() && next_reward.is_none_or(|n| Instant::now() >= n) && rewards_sent < 5 {
            let r = Float32MultiArray::emotions(&[0.0, 1.0, 0.5, 0.0, 0.0]);
            if reward_pub.publish(r).is_ok() {
                rewards_sent += 1;
            }
            // A head turn after the first and the third reward.
            if rewards_sent % 2 == 1 && cut_pub.publish(Empty::default()).is_ok() {
                cuts_sent += 1;
            }
            next_reward = Some(Instant::now() + Duration::from_millis(200));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = daemon.into_inner().wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(epps.len() >= 30, "{} EPP messages in 7 s (domain {domain}): {err}", epps.len());
    assert!(epps.iter().all(|e| (0.0..=1.0).contains(e)), "{epps:?}");
    assert!(flags >= epps.len(), "a flags message with every sample");
    let e = emotions.last().expect("emotions published");
    assert_eq!(e.data.len(), 5);
    assert_eq!(e.layout.dim[0].label, EMOTIONS.join(","));
    assert!(e.data.iter().all(|x| (0.0..=1.0).contains(x)));
    let applied: u64 = err.split("rewards=").nth(1).and_then(|r| r.split(' ').next()).unwrap().parse().unwrap();
    assert!(rewards_sent == 5 && applied >= 1, "sent {rewards_sent}, applied {applied}: {err}");
    let cuts: u64 = err
        .split("scene_cuts=")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(cuts_sent == 3 && cuts >= 1, "scene cuts sent {cuts_sent}, applied {cuts}: {err}");
}
