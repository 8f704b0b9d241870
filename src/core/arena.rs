//! Carving one caller-provided f32 scratch buffer into the run state's named buffers, once, at construction.
//!
//! Every stage builds itself from an [`Arena`]. The same construction code also runs on a *counting* arena, which
//! hands out empty slices and only adds up what was asked for: that dry run is how every `scratch_len` is computed,
//! so the size can never disagree with what construction takes. Construction code therefore only initialises its
//! buffers when [`Arena::is_counting`] is false (or through [`Arena::take_copy`], which does that itself).

use crate::core::error::Error;
use half::f16;

/// Hands out disjoint, zeroed pieces of a scratch buffer; fails with [`Error::ScratchTooSmall`] instead of panicking.
pub struct Arena<'a> {
    rest: &'a mut [f32],
    used: usize,
    total: usize,
    counting: bool,
}

impl<'a> Arena<'a> {
    /// Wrap the caller's scratch.
    pub fn new(scratch: &'a mut [f32]) -> Self {
        let total = scratch.len();
        Arena { rest: scratch, used: 0, total, counting: false }
    }

    /// An arena that holds nothing and counts what construction asks for (every slice it hands out is empty).
    pub fn counting() -> Self {
        Arena { rest: &mut [], used: 0, total: 0, counting: true }
    }

    /// Whether this is a counting (dry-run) arena.
    pub fn is_counting(&self) -> bool {
        self.counting
    }

    /// Take `n` floats (zeroed).
    pub fn take(&mut self, n: usize) -> Result<&'a mut [f32], Error> {
        self.used = self.used.saturating_add(n);
        if self.counting {
            return Ok(&mut []);
        }
        if n > self.rest.len() {
            return Err(Error::ScratchTooSmall { needed: self.used, got: self.total });
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
        let len = n.min(b.len());
        Ok(&mut b[..len])
    }

    /// Take `src.len()` floats holding a copy of `src`.
    pub fn take_copy(&mut self, src: &[f32]) -> Result<&'a mut [f32], Error> {
        let dst = self.take(src.len())?;
        if !self.counting {
            dst.copy_from_slice(src);
        }
        Ok(dst)
    }

    /// Take `src.len()` floats holding `src` widened to f32 (f16 storage is expanded once, at construction).
    pub fn take_widened(&mut self, src: &[f16]) -> Result<&'a [f32], Error> {
        let dst = self.take(src.len())?;
        for (d, s) in dst.iter_mut().zip(src) {
            *d = s.to_f32();
        }
        Ok(dst)
    }

    /// Floats handed out (or, counting, asked for) so far.
    pub fn used(&self) -> usize {
        self.used
    }

    /// Floats not yet handed out.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_and_real_arenas_agree() {
        let mut c = Arena::counting();
        assert!(c.take(10).unwrap().is_empty());
        assert!(c.take_bytes(7).unwrap().is_empty());
        assert!(c.take_copy(&[1.0, 2.0]).unwrap().is_empty());
        assert_eq!(c.used(), 10 + 2 + 2);
        let mut buf = vec![9.0f32; 14];
        let mut a = Arena::new(&mut buf);
        assert_eq!(a.take(10).unwrap(), &[0.0; 10]);
        assert_eq!(a.take_bytes(7).unwrap().len(), 7);
        assert_eq!(a.take_copy(&[1.0, 2.0]).unwrap(), &[1.0, 2.0]);
        assert_eq!((a.used(), a.remaining()), (14, 0));
        assert_eq!(a.take(1), Err(Error::ScratchTooSmall { needed: 15, got: 14 }));
    }
}
