//! ROS 2 output (feature `ros2`): the samples as standard `std_msgs` messages, and rewards from a topic, through
//! `ros2-client` over RustDDS (pure Rust: no ROS installation is needed to build or run; DDS interoperates with ROS 2's
//! own middleware on the wire).
//!
//! | topic | type | when |
//! |---|---|---|
//! | `/avf_bel/epp` | `std_msgs/msg/Float32` | every sample with an estimate |
//! | `/avf_bel/emotions` | `std_msgs/msg/Float32MultiArray`, 5 values: angry, happy, peaceful, sad, scared (the layout's one dimension is labelled with the names) | every sample with an estimate |
//! | `/avf_bel/confidence` | `std_msgs/msg/Float32` | every sample (0 without an estimate) |
//! | `/avf_bel/flags` | `std_msgs/msg/UInt8`, the wire flags (`docs/wire.md`) | every sample |
//! | `/avf_bel/reward` (subscribed) | `std_msgs/msg/Float32MultiArray`, 5 values 0–1 | whenever the robot sends one |
//! | `/avf_bel/scene_cut` (subscribed) | `std_msgs/msg/Empty` | the robot's camera has just moved: as `SceneCut` |
//!
//! `std_msgs/msg/Empty` has no field, and ROS 2's IDL generator gives every such message one `uint8` member,
//! `structure_needs_at_least_one_member`, so that DDS can carry it: [`Empty`] is that member, one byte on the wire.
//!
//! QoS: publishers reliable, volatile, keep last 10 (a reliable or best-effort subscriber both match); the
//! subscriptions reliable, volatile, keep last 10. The domain is `ROS_DOMAIN_ID` (default 0); with
//! `ROS_LOCALHOST_ONLY=1` or `ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST` only the loopback interface is used.
//!
//! DDS runs on its own thread: the daemon hands samples over through a bounded queue (a full queue drops, counted)
//! and collects rewards and scene cuts without waiting, so a stalled ROS 2 subscriber never stalls the pipeline.

use crate::core::config::{EMOTIONS, N_EMOTIONS};
use crate::core::link::{Message, Reward, Sample, SceneCut};
use ros2_client::dds::rustdds::DomainParticipantBuilder;
use ros2_client::dds::{Context, Publisher, Subscription};
use ros2_client::qos::{Durability, History, WhenFull};
use ros2_client::{MessageTypeName, Name, NodeName, NodeOptions, QosProfile};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Namespace of every topic.
pub const NAMESPACE: &str = "/avf_bel";
/// Node name.
pub const NODE: &str = "avf_bel";

/// `std_msgs/msg/Float32`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Float32 {
    /// The value.
    pub data: f32,
}

/// `std_msgs/msg/UInt8`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UInt8 {
    /// The value.
    pub data: u8,
}

/// `std_msgs/msg/Empty`, as ROS 2 puts it on the wire (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Empty {
    /// The member ROS 2's IDL generator adds to a message without fields (always 0).
    pub structure_needs_at_least_one_member: u8,
}

/// `std_msgs/msg/MultiArrayDimension`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MultiArrayDimension {
    /// Name of the dimension.
    pub label: String,
    /// Its size.
    pub size: u32,
    /// Stride.
    pub stride: u32,
}

/// `std_msgs/msg/MultiArrayLayout`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MultiArrayLayout {
    /// Dimensions, outermost first.
    pub dim: Vec<MultiArrayDimension>,
    /// Padding before the data.
    pub data_offset: u32,
}

/// `std_msgs/msg/Float32MultiArray`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Float32MultiArray {
    /// Layout.
    pub layout: MultiArrayLayout,
    /// Values.
    pub data: Vec<f32>,
}

impl Float32MultiArray {
    /// The five emotions in wire order, the dimension labelled with their names.
    pub fn emotions(values: &[f32; N_EMOTIONS]) -> Float32MultiArray {
        Float32MultiArray {
            layout: MultiArrayLayout {
                dim: vec![MultiArrayDimension {
                    label: EMOTIONS.join(","),
                    size: N_EMOTIONS as u32,
                    stride: N_EMOTIONS as u32,
                }],
                data_offset: 0,
            },
            data: values.to_vec(),
        }
    }
}

/// The QoS of every topic (see the module docs).
pub fn qos() -> QosProfile {
    QosProfile::publisher_default()
        .reliability_reliable(WhenFull::Fail)
        .durability(Durability::Volatile)
        .history(History::KeepLast { depth: 10 })
}

/// A DDS context for `ROS_DOMAIN_ID`, restricted to loopback when ROS's localhost-only settings ask for it.
pub fn context() -> Result<Context, String> {
    let domain = match std::env::var("ROS_DOMAIN_ID") {
        Ok(v) if !v.trim().is_empty() => {
            v.trim().parse::<u16>().ok().filter(|d| *d <= 232).ok_or(format!("ROS_DOMAIN_ID={v}: expected 0–232"))?
        }
        _ => 0,
    };
    let local = std::env::var("ROS_LOCALHOST_ONLY").is_ok_and(|v| v.trim() == "1")
        || std::env::var("ROS_AUTOMATIC_DISCOVERY_RANGE").is_ok_and(|v| v.trim().eq_ignore_ascii_case("LOCALHOST"));
    let mut b = DomainParticipantBuilder::new(domain);
    if local {
        b = b.with_only_networks([IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    }
    let dp = b.build().map_err(|e| format!("DDS participant (domain {domain}): {e:?}"))?;
    Context::from_domain_participant(dp).map_err(|e| format!("ROS 2 context: {e:?}"))
}

/// Create the topic `NAMESPACE/name` of `std_msgs/msg/type_name`.
pub fn topic(
    node: &ros2_client::dds::Node,
    name: &str,
    type_name: &str,
) -> Result<ros2_client::dds::rustdds::Topic, String> {
    let n = Name::new(NAMESPACE, name).map_err(|e| format!("topic name {name}: {e:?}"))?;
    node.create_topic(&n, MessageTypeName::new("std_msgs", type_name), &qos())
        .map_err(|e| format!("topic {name}: {e:?}"))
}

struct Pubs {
    epp: Publisher<Float32>,
    emotions: Publisher<Float32MultiArray>,
    confidence: Publisher<Float32>,
    flags: Publisher<UInt8>,
    reward: Subscription<Float32MultiArray>,
    scene_cut: Subscription<Empty>,
    // Kept alive: dropping the node or context would tear the endpoints down.
    _node: ros2_client::dds::Node,
    _context: Context,
}

fn build() -> Result<Pubs, String> {
    let context = context()?;
    let name = NodeName::new("/", NODE).map_err(|e| format!("node name: {e:?}"))?;
    let mut node =
        context.new_node(name, NodeOptions::new().enable_rosout(false)).map_err(|e| format!("node: {e:?}"))?;
    let epp_t = topic(&node, "epp", "Float32")?;
    let emo_t = topic(&node, "emotions", "Float32MultiArray")?;
    let conf_t = topic(&node, "confidence", "Float32")?;
    let flags_t = topic(&node, "flags", "UInt8")?;
    let reward_t = topic(&node, "reward", "Float32MultiArray")?;
    let cut_t = topic(&node, "scene_cut", "Empty")?;
    let p = |e| format!("publisher: {e:?}");
    let sub = |e| format!("subscription: {e:?}");
    Ok(Pubs {
        epp: node.create_publisher(&epp_t, None).map_err(p)?,
        emotions: node.create_publisher(&emo_t, None).map_err(p)?,
        confidence: node.create_publisher(&conf_t, None).map_err(p)?,
        flags: node.create_publisher(&flags_t, None).map_err(p)?,
        reward: node.create_subscription(&reward_t, None).map_err(sub)?,
        scene_cut: node.create_subscription(&cut_t, None).map_err(sub)?,
        _node: node,
        _context: context,
    })
}

/// The daemon's handle on the ROS 2 thread.
pub struct Ros2 {
    samples: SyncSender<Sample>,
    incoming: Receiver<Message>,
    dropped: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ros2 {
    /// Start the DDS participant, node, publishers and the subscriptions on their own thread.
    pub fn start() -> Result<Ros2, String> {
        let (tx, samples) = mpsc::sync_channel::<Sample>(32);
        let (incoming_tx, incoming) = mpsc::channel::<Message>();
        let (ready_tx, ready) = mpsc::channel::<Result<(), String>>();
        let dropped = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (d2, s2) = (Arc::clone(&dropped), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name("ros2".into())
            .spawn(move || {
                let pubs = match build() {
                    Ok(p) => {
                        let _ = ready_tx.send(Ok(()));
                        p
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                run(&pubs, &samples, &incoming_tx, &d2, &s2);
            })
            .map_err(|e| format!("thread: {e}"))?;
        match ready.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(Ros2 { samples: tx, incoming, dropped, stop, thread: Some(thread) }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("DDS did not start within 10 s".into()),
        }
    }

    /// Hand a sample over (never waits; a full queue drops it, counted).
    pub fn publish(&self, s: &Sample) {
        if self.samples.try_send(*s).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Append the rewards and scene cuts received since the last call: each topic's in the order they arrived; of one
    /// poll of DDS, the rewards before the cuts (the two are independent: a cut does not change what a reward
    /// trains, and BEL's read-out does not change with a cut).
    pub fn incoming(&self, out: &mut Vec<Message>) {
        while let Ok(m) = self.incoming.try_recv() {
            out.push(m);
        }
    }

    /// Samples not published because the ROS 2 thread was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for Ros2 {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_millis(300);
        while self.thread.as_ref().is_some_and(|t| !t.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if let Some(t) = self.thread.take() {
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

fn run(p: &Pubs, samples: &Receiver<Sample>, incoming: &mpsc::Sender<Message>, dropped: &AtomicU64, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match samples.recv_timeout(Duration::from_millis(20)) {
            Ok(s) => {
                let mut ok = true;
                if s.has_estimate() {
                    ok &= p.epp.publish(Float32 { data: s.epp }).is_ok();
                    ok &= p.emotions.publish(Float32MultiArray::emotions(&s.emotions)).is_ok();
                }
                ok &= p.confidence.publish(Float32 { data: s.confidence }).is_ok();
                ok &= p.flags.publish(UInt8 { data: s.flags }).is_ok();
                if !ok {
                    dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        while let Ok(Some((m, _))) = p.reward.take() {
            // A malformed reward (wrong length) is passed on as out of range, so the daemon counts it as refused.
            let mut r = [f32::NAN; N_EMOTIONS];
            if m.data.len() == N_EMOTIONS {
                r.copy_from_slice(&m.data);
            }
            let _ = incoming.send(Message::Reward(Reward { seq: 0, reward: r }));
        }
        // The message carries nothing to check: its arrival is the cut.
        while let Ok(Some(_)) = p.scene_cut.take() {
            let _ = incoming.send(Message::SceneCut(SceneCut { seq: 0 }));
        }
    }
}
