//! [`LlamaBatch`]: tokens to decode, with positions and sequence ids.

use crate::error::{LlamaError, Result};
use crate::sys;
use crate::vocab::LlamaToken;

/// A batch of tokens for [`crate::LlamaContext::decode`]. Owns the arrays
/// llama.cpp reads, as Rust vectors that grow as tokens are added.
///
/// ```
/// use llama_cpp_moe::{LlamaBatch, LlamaToken};
/// let mut batch = LlamaBatch::new(8, 1);
/// batch.add_sequence(&[LlamaToken(1), LlamaToken(2)], 0, false)?;
/// assert_eq!(batch.n_tokens(), 2);
/// assert!(batch.add(LlamaToken(3), 2, &[5], true).is_err(), "sequence 5 does not exist");
/// # Ok::<(), llama_cpp_moe::LlamaError>(())
/// ```
pub struct LlamaBatch {
    // llama_batch_init is not used: it computes `n_tokens + 1` in `int`
    // (overflow at i32::MAX), allocates n_seq_max ids for every token up
    // front and never checks malloc. These vectors grow on demand and a
    // failed allocation is an error.
    capacity: usize,
    n_seq_max: i32,
    tokens: Vec<LlamaToken>,
    pos: Vec<i32>,
    n_seq_id: Vec<i32>,
    /// Every token's sequence ids, back to back; token i's start at
    /// `seq_start[i]`.
    seq_ids: Vec<i32>,
    seq_start: Vec<usize>,
    outputs: Vec<bool>,
    logits: Vec<i8>,
    max_pos: Option<i32>,
}

impl LlamaBatch {
    /// Room for `n_tokens` tokens (at most `i32::MAX`, llama.cpp's count
    /// type), each in up to `n_seq_max` sequences. Nothing is allocated
    /// until tokens are added.
    pub fn new(n_tokens: usize, n_seq_max: i32) -> Self {
        Self {
            capacity: n_tokens.clamp(1, i32::MAX as usize),
            n_seq_max: n_seq_max.max(1),
            tokens: Vec::new(),
            pos: Vec::new(),
            n_seq_id: Vec::new(),
            seq_ids: Vec::new(),
            seq_start: Vec::new(),
            outputs: Vec::new(),
            logits: Vec::new(),
            max_pos: None,
        }
    }

    /// Adds one token at position `pos` in sequences `seq_ids`; `logits`
    /// asks for its logits after decoding.
    pub fn add(
        &mut self,
        token: LlamaToken,
        pos: i32,
        seq_ids: &[i32],
        logits: bool,
    ) -> Result<()> {
        if self.tokens.len() >= self.capacity {
            return Err(LlamaError::Batch(format!(
                "the batch is full ({} tokens)",
                self.capacity
            )));
        }
        if seq_ids.is_empty() || seq_ids.len() > self.n_seq_max as usize {
            return Err(LlamaError::Batch(format!(
                "a token needs 1..={} sequence ids, got {}",
                self.n_seq_max,
                seq_ids.len()
            )));
        }
        if let Some(bad) = seq_ids.iter().find(|&&s| s < 0 || s >= self.n_seq_max) {
            return Err(LlamaError::Batch(format!(
                "sequence id {bad} is outside 0..{}",
                self.n_seq_max
            )));
        }
        if pos < 0 {
            return Err(LlamaError::Batch(format!("position {pos} is negative")));
        }
        self.reserve(seq_ids.len())?;
        self.tokens.push(token);
        self.pos.push(pos);
        // Fits: at most n_seq_max, an i32.
        self.n_seq_id.push(seq_ids.len() as i32);
        self.seq_start.push(self.seq_ids.len());
        self.seq_ids.extend_from_slice(seq_ids);
        self.outputs.push(logits);
        self.logits.push(i8::from(logits));
        self.max_pos = Some(self.max_pos.map_or(pos, |p| p.max(pos)));
        Ok(())
    }

    /// Room for one more token with `n_ids` sequence ids in every array, so
    /// that the pushes in `add` cannot fail half-way.
    fn reserve(&mut self, n_ids: usize) -> Result<()> {
        let oom =
            |what: &str| LlamaError::Batch(format!("out of memory growing the batch's {what}"));
        self.tokens.try_reserve(1).map_err(|_| oom("tokens"))?;
        self.pos.try_reserve(1).map_err(|_| oom("positions"))?;
        self.n_seq_id
            .try_reserve(1)
            .map_err(|_| oom("sequence counts"))?;
        self.seq_start
            .try_reserve(1)
            .map_err(|_| oom("sequence offsets"))?;
        self.seq_ids
            .try_reserve(n_ids)
            .map_err(|_| oom("sequence ids"))?;
        self.outputs
            .try_reserve(1)
            .map_err(|_| oom("output flags"))?;
        self.logits
            .try_reserve(1)
            .map_err(|_| oom("output flags"))?;
        Ok(())
    }

    /// Adds `tokens` to sequence `seq_id` at positions following what is
    /// already in the batch; with `logits_all` every token gets logits,
    /// otherwise only the last.
    pub fn add_sequence(
        &mut self,
        tokens: &[LlamaToken],
        seq_id: i32,
        logits_all: bool,
    ) -> Result<()> {
        if self.tokens.len() + tokens.len() > self.capacity {
            return Err(LlamaError::Batch(format!(
                "{} tokens do not fit in a batch of {}",
                self.tokens.len() + tokens.len(),
                self.capacity
            )));
        }
        let start = self.max_pos.map_or(0, |p| p + 1);
        for (i, &token) in tokens.iter().enumerate() {
            let last = i + 1 == tokens.len();
            let pos = i32::try_from(i)
                .ok()
                .and_then(|i| start.checked_add(i))
                .ok_or_else(|| LlamaError::Batch("positions beyond i32::MAX".into()))?;
            self.add(token, pos, &[seq_id], logits_all || last)?;
        }
        Ok(())
    }

    /// Empties the batch, keeping its allocation.
    pub fn clear(&mut self) {
        self.tokens.clear();
        self.pos.clear();
        self.n_seq_id.clear();
        self.seq_ids.clear();
        self.seq_start.clear();
        self.outputs.clear();
        self.logits.clear();
        self.max_pos = None;
    }

    /// Tokens in the batch.
    pub fn n_tokens(&self) -> usize {
        self.tokens.len()
    }

    /// The most tokens the batch holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The tokens added so far.
    pub fn tokens(&self) -> &[LlamaToken] {
        &self.tokens
    }

    /// Which tokens asked for logits.
    pub fn output_flags(&self) -> &[bool] {
        &self.outputs
    }

    /// Highest position in the batch.
    pub fn max_pos(&self) -> Option<i32> {
        self.max_pos
    }

    /// Calls `f` with the C view of the batch. The struct's pointers point
    /// into `self` and into a table built for this call only, so they are
    /// valid exactly while `f` runs (`&mut self`: nothing can add tokens).
    pub(crate) fn with_raw<R>(&mut self, f: impl FnOnce(sys::llama_batch) -> R) -> Result<R> {
        let mut seq_ptrs = Vec::new();
        seq_ptrs
            .try_reserve_exact(self.tokens.len())
            .map_err(|_| LlamaError::Batch("out of memory for the sequence id table".into()))?;
        let base = self.seq_ids.as_mut_ptr();
        // wrapping_add keeps this safe code; every start is the index of its
        // token's first id in `seq_ids`, so each pointer is in bounds.
        seq_ptrs.extend(self.seq_start.iter().map(|&start| base.wrapping_add(start)));
        let raw = sys::llama_batch {
            // Fits: capacity <= i32::MAX.
            n_tokens: self.tokens.len() as i32,
            token: self.tokens.as_mut_ptr().cast(),
            embd: std::ptr::null_mut(),
            pos: self.pos.as_mut_ptr(),
            n_seq_id: self.n_seq_id.as_mut_ptr(),
            seq_id: seq_ptrs.as_mut_ptr(),
            logits: self.logits.as_mut_ptr(),
        };
        Ok(f(raw))
    }
}

impl std::fmt::Debug for LlamaBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlamaBatch")
            .field("n_tokens", &self.tokens.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::LlamaBatch;
    use crate::LlamaToken;

    #[test]
    fn the_c_view_points_at_what_was_added() {
        let mut batch = LlamaBatch::new(usize::MAX, i32::MAX);
        batch.add(LlamaToken(7), 0, &[0, 3], false).unwrap();
        batch.add(LlamaToken(9), 1, &[2], true).unwrap();
        let seen = batch
            .with_raw(|raw| {
                // SAFETY: with_raw's pointers are valid for n_tokens entries
                // (and n_seq_id[i] ids per seq_id[i]) during the closure.
                unsafe {
                    let n = raw.n_tokens as usize;
                    let ids = |i: usize| {
                        std::slice::from_raw_parts(
                            *raw.seq_id.add(i),
                            *raw.n_seq_id.add(i) as usize,
                        )
                        .to_vec()
                    };
                    (
                        std::slice::from_raw_parts(raw.token, n).to_vec(),
                        std::slice::from_raw_parts(raw.pos, n).to_vec(),
                        (0..n).map(ids).collect::<Vec<_>>(),
                        std::slice::from_raw_parts(raw.logits, n).to_vec(),
                    )
                }
            })
            .unwrap();
        assert_eq!(
            seen,
            (
                vec![7, 9],
                vec![0, 1],
                vec![vec![0, 3], vec![2]],
                vec![0, 1]
            )
        );
    }
}
