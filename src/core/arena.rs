//! Carving one caller-provided f32 scratch buffer into the run state's named buffers, once, at construction.

use crate::core::error::Error;

/// Hands out disjoint pieces of a scratch buffer; fails with [`Error::ScratchTooSmall`] instead of panicking.
pub struct Arena<'a> {
    rest: &'a mut [f32],
    needed: usize,
    total: usize,
}

impl<'a> Arena<'a> {
    /// Wrap the caller's scratch.
    pub fn new(scratch: &'a mut [f32]) -> Self {
        let total = scratch.len();
        Arena { rest: scratch, needed: 0, total }
    }

    /// Take `n` floats (zeroed).
    pub fn take(&mut self, n: usize) -> Result<&'a mut [f32], Error> {
        self.needed += n;
        if n > self.rest.len() {
            return Err(Error::ScratchTooSmall { needed: self.needed, got: self.total });
        }
        let rest = core::mem::take(&mut self.rest);
        let (head, tail) = rest.split_at_mut(n);
        self.rest = tail;
        head.fill(0.0);
        Ok(head)
    }

    /// Take room for `n` bytes (rounded up to whole floats), zeroed.
    pub fn take_bytes(&mut self, n: usize) -> Result<&'a mut [u8], Error> {
        let f = self.take(n.div_ceil(4))?;
        let b: &'a mut [u8] = bytemuck::cast_slice_mut(f);
        Ok(&mut b[..n])
    }

    /// Floats handed out so far.
    pub fn used(&self) -> usize {
        self.needed
    }
}

/// Counts what an [`Arena`] would hand out, so scratch sizes are computed by the same code that carves them.
#[derive(Default)]
pub struct Tally(pub usize);

impl Tally {
    /// Count `n` floats.
    pub fn take(&mut self, n: usize) {
        self.0 += n;
    }
    /// Count `n` bytes (rounded up to whole floats).
    pub fn take_bytes(&mut self, n: usize) {
        self.0 += n.div_ceil(4);
    }
}
