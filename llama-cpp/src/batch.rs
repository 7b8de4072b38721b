//! [`LlamaBatch`]: tokens to decode, with positions and sequence ids.

use crate::error::{LlamaError, Result};
use crate::sys;
use crate::vocab::LlamaToken;

/// A batch of tokens for [`crate::LlamaContext::decode`]. Owns the arrays
/// llama.cpp reads; freed on drop.
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
    raw: sys::llama_batch,
    capacity: usize,
    n_seq_max: i32,
    // Mirrors of what was added, for checks without reading C memory.
    tokens: Vec<LlamaToken>,
    outputs: Vec<bool>,
    max_pos: Option<i32>,
}

// SAFETY: the batch exclusively owns its malloc'd arrays.
unsafe impl Send for LlamaBatch {}

impl LlamaBatch {
    /// Room for `n_tokens` tokens, each in up to `n_seq_max` sequences.
    pub fn new(n_tokens: usize, n_seq_max: i32) -> Self {
        let capacity = n_tokens.clamp(1, i32::MAX as usize);
        let n_seq_max = n_seq_max.max(1);
        // SAFETY: allocates arrays for `capacity` tokens (embd = 0: token ids).
        let raw = unsafe { sys::llama_batch_init(capacity as i32, 0, n_seq_max) };
        Self { raw, capacity, n_seq_max, tokens: Vec::new(), outputs: Vec::new(), max_pos: None }
    }

    /// Adds one token at position `pos` in sequences `seq_ids`; `logits`
    /// asks for its logits after decoding.
    pub fn add(&mut self, token: LlamaToken, pos: i32, seq_ids: &[i32], logits: bool) -> Result<()> {
        let i = self.tokens.len();
        if i >= self.capacity {
            return Err(LlamaError::Batch(format!("the batch is full ({} tokens)", self.capacity)));
        }
        if seq_ids.is_empty() || seq_ids.len() > self.n_seq_max as usize {
            return Err(LlamaError::Batch(format!("a token needs 1..={} sequence ids, got {}", self.n_seq_max, seq_ids.len())));
        }
        if let Some(bad) = seq_ids.iter().find(|&&s| s < 0 || s >= self.n_seq_max) {
            return Err(LlamaError::Batch(format!("sequence id {bad} is outside 0..{}", self.n_seq_max)));
        }
        if pos < 0 {
            return Err(LlamaError::Batch(format!("position {pos} is negative")));
        }
        // SAFETY: i < capacity, and llama_batch_init allocated `capacity`
        // entries in token/pos/n_seq_id/logits and `n_seq_max` ids per seq_id[i].
        unsafe {
            *self.raw.token.add(i) = token.0;
            *self.raw.pos.add(i) = pos;
            *self.raw.n_seq_id.add(i) = seq_ids.len() as i32;
            let ids = *self.raw.seq_id.add(i);
            for (j, &seq) in seq_ids.iter().enumerate() {
                *ids.add(j) = seq;
            }
            *self.raw.logits.add(i) = i8::from(logits);
        }
        self.tokens.push(token);
        self.outputs.push(logits);
        self.max_pos = Some(self.max_pos.map_or(pos, |p| p.max(pos)));
        self.raw.n_tokens = self.tokens.len() as i32;
        Ok(())
    }

    /// Adds `tokens` to sequence `seq_id` at positions following what is
    /// already in the batch; with `logits_all` every token gets logits,
    /// otherwise only the last.
    pub fn add_sequence(&mut self, tokens: &[LlamaToken], seq_id: i32, logits_all: bool) -> Result<()> {
        if self.tokens.len() + tokens.len() > self.capacity {
            return Err(LlamaError::Batch(format!("{} tokens do not fit in a batch of {}", self.tokens.len() + tokens.len(), self.capacity)));
        }
        let start = self.max_pos.map_or(0, |p| p + 1);
        for (i, &token) in tokens.iter().enumerate() {
            let last = i + 1 == tokens.len();
            self.add(token, start + i as i32, &[seq_id], logits_all || last)?;
        }
        Ok(())
    }

    /// Empties the batch, keeping its allocation.
    pub fn clear(&mut self) {
        self.tokens.clear();
        self.outputs.clear();
        self.max_pos = None;
        self.raw.n_tokens = 0;
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

    /// The C struct (pointers owned by `self`).
    pub(crate) fn as_raw(&self) -> sys::llama_batch {
        self.raw
    }
}

impl Drop for LlamaBatch {
    fn drop(&mut self) {
        // SAFETY: `raw` came from llama_batch_init and is freed once; n_tokens
        // does not affect freeing.
        unsafe { sys::llama_batch_free(self.raw) }
    }
}

impl std::fmt::Debug for LlamaBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlamaBatch").field("n_tokens", &self.tokens.len()).field("capacity", &self.capacity).finish()
    }
}
