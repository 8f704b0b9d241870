//! A launcher for unit tests of the host code alone: host memory, launches recorded but not run, and failures on
//! demand (a driver that loses a launch).

use super::launcher::{check_range, Arg, Buf, DeviceInfo, Fence, GpuError, GpuResult, Graph, Kernel, Launcher};
use super::runtime::GpuPipeline;
use crate::core::error::BackendStage;
use std::sync::{Arc, Mutex};

/// What the mock saw and what it should do.
#[derive(Default)]
pub(crate) struct Script {
    /// Launches, in order.
    pub launched: Vec<Kernel>,
    /// Fail the next this-many launches of `fail_kernel` (status 719, "launch failed").
    pub fail_next: usize,
    pub fail_kernel: Option<Kernel>,
}

pub(crate) struct Mock {
    info: DeviceInfo,
    mem: Vec<Vec<u8>>,
    script: Arc<Mutex<Script>>,
}

impl Mock {
    pub(crate) fn new() -> (Self, Arc<Mutex<Script>>) {
        let script = Arc::new(Mutex::new(Script::default()));
        let info = DeviceInfo { name: "mock".into(), cc: (9, 9), integrated: false, sms: 1, build: "none".into() };
        (Mock { info, mem: Vec::new(), script: script.clone() }, script)
    }
}

impl Launcher for Mock {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }
    fn alloc(&mut self, bytes: usize) -> GpuResult<Buf> {
        self.mem.push(vec![0; bytes]);
        Ok(Buf(self.mem.len() as u32 - 1))
    }
    fn upload(&mut self, dst: Buf, offset: usize, src: &[u8]) -> GpuResult<()> {
        let m = &mut self.mem[dst.0 as usize];
        check_range(m.len(), offset, src.len())?;
        m[offset..offset + src.len()].copy_from_slice(src);
        Ok(())
    }
    fn download(&mut self, src: Buf, offset: usize, dst: &mut [u8]) -> GpuResult<()> {
        let m = &self.mem[src.0 as usize];
        check_range(m.len(), offset, dst.len())?;
        dst.copy_from_slice(&m[offset..offset + dst.len()]);
        Ok(())
    }
    fn copy(&mut self, dst: Buf, src: Buf) -> GpuResult<()> {
        let s = self.mem[src.0 as usize].clone();
        self.mem[dst.0 as usize].copy_from_slice(&s);
        Ok(())
    }
    fn zero(&mut self, dst: Buf) -> GpuResult<()> {
        self.mem[dst.0 as usize].fill(0);
        Ok(())
    }
    unsafe fn launch(&mut self, k: Kernel, _grid: [u32; 3], _block: [u32; 3], _args: &[Arg<'_>]) -> GpuResult<()> {
        let mut s = self.script.lock().unwrap();
        if s.fail_next > 0 && s.fail_kernel == Some(k) {
            s.fail_next -= 1;
            return Err(GpuError::device(BackendStage::Launch, "cuLaunchKernel", 719));
        }
        s.launched.push(k);
        Ok(())
    }
    fn begin_capture(&mut self) -> GpuResult<()> {
        Err(GpuError::device(BackendStage::Graph, "no graphs in the mock", 0))
    }
    fn end_capture(&mut self) -> GpuResult<Graph> {
        Err(GpuError::device(BackendStage::Graph, "no graphs in the mock", 0))
    }
    fn replay(&mut self, _g: Graph) -> GpuResult<()> {
        Err(GpuError::device(BackendStage::Graph, "no graphs in the mock", 0))
    }
    fn fence(&mut self) -> GpuResult<Fence> {
        Ok(Fence(0))
    }
    fn wait(&mut self, _f: Fence) -> GpuResult<()> {
        Ok(())
    }
    fn synchronize(&mut self) -> GpuResult<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::ModelConfig;
    use crate::core::weights::Weights;
    use crate::host::gpu::kernels::CORTEX_BATCH;
    use crate::host::model::{encode, seeded, Precision};
    use crate::host::writer::AlignedBytes;

    /// A cortex launch that fails must not let the frame queue outgrow its batch: the next pushes report the
    /// failure (typed) instead of panicking, and once the device works again the queue drains. The queue was once
    /// flushed only when its length was exactly the batch size; after one failed flush it grew past it and the next
    /// push panicked in `slice_mut`.
    #[test]
    fn cortex_queue_survives_a_failed_launch() {
        let cfg = ModelConfig::tiny();
        let file = AlignedBytes::new(&encode(&cfg, &seeded(&cfg, 5), Precision::F32).unwrap());
        let w = Weights::parse(file.as_bytes()).unwrap();
        let mut scratch = vec![0.0f32; GpuPipeline::scratch_len(&w)];
        let (mock, script) = Mock::new();
        let mut g = GpuPipeline::with_launcher(Box::new(mock), &w, &mut scratch).unwrap();
        script.lock().unwrap().fail_kernel = Some(Kernel::CortexFrames);
        script.lock().unwrap().fail_next = 3;
        let hop = cfg.audio.hop as usize;
        let chunk = vec![0.1f32; hop];
        let mut errors = 0;
        for _ in 0..4 * CORTEX_BATCH {
            match g.push_audio(&chunk) {
                Ok(()) => {}
                Err(GpuError::Device { stage: BackendStage::Launch, code: 719, .. }) => errors += 1,
                Err(e) => panic!("unexpected error {e}"),
            }
            assert!(g.cortex_queued() <= CORTEX_BATCH, "queue grew to {}", g.cortex_queued());
        }
        assert_eq!(errors, 3, "each failed launch is reported once");
        let launches = script.lock().unwrap().launched.iter().filter(|k| **k == Kernel::CortexFrames).count();
        assert!(launches >= 2, "the queue drains once launches succeed ({launches})");
        // The typed error crosses the Backend boundary as the core's Error.
        let e: crate::Error = GpuError::device(BackendStage::Launch, "cuLaunchKernel", 719).into();
        assert_eq!(
            e,
            crate::Error::Backend(crate::core::error::BackendError { stage: BackendStage::Launch, code: 719 })
        );
    }
}
