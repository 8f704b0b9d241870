#!/usr/bin/env bash
# ROS 2 (feature `ros2`, `serve --ros2`): clippy with the feature, then tests/ros2.rs, the daemon against a subscriber
# and publisher in the same DDS implementation (ros2-client over RustDDS) on the loopback interface only
# (`ROS_LOCALHOST_ONLY=1`, a domain id of its own): EPP, emotions and flags arrive, rewards and scene cuts published
# by the test are applied (the daemon's statistics count them). Pure Rust: no ROS installation. Not checked here: a
# ROS 2 installation's own nodes (rclcpp/rclpy over Fast DDS or Cyclone DDS).
# Duration on the 2-core AMD EPYC dev VM, the rest of the crate's dependencies built by .ci/run: ros2-client, RustDDS
# and their dependencies about 70 s, the crate and test with the feature about 90 s, clippy about 60 s, the test 8 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR=never
cargo clippy --all-targets --release --features ros2 -- -D warnings
cargo test --release --features ros2 --test ros2
