//! llama-cpp-2's batch (`llama_cpp_2::llama_batch`): its `n_tokens()` is an `i32`, a position.
//!
//! [`LlamaBatch`] here wraps this crate's [`crate::LlamaBatch`] and dereferences to it, so
//! [`crate::LlamaContext::decode`] takes `&mut` either. `LlamaBatch::get_one` is not provided:
//! its batch has no positions (llama.cpp continues the sequence), which this crate's batch,
//! with explicit positions, cannot express.

use crate::error::{LlamaError, Result};
use crate::LlamaToken;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

/// llama-cpp-2's error of `LlamaBatch::add`: an alias of [`LlamaError`] (a full batch is
/// [`LlamaError::Batch`]).
pub type BatchAddError = LlamaError;

/// A batch of tokens to decode, with llama-cpp-2's signatures.
///
/// The lifetime is llama-cpp-2's (its `get_one` borrowed the tokens); here the batch owns its
/// arrays and the lifetime is unused, so `LlamaBatch<'static>` and `LlamaBatch<'_>` in
/// existing code keep compiling.
///
/// ```
/// use llama_cpp_moe::llama_batch::LlamaBatch;
/// use llama_cpp_moe::token::LlamaToken;
///
/// let mut batch = LlamaBatch::new(8, 1);
/// batch.add_sequence(&[LlamaToken(1), LlamaToken(2)], 0, false)?;
/// let n: i32 = batch.n_tokens();
/// assert_eq!(n, 2);
/// assert!(batch.add(LlamaToken(3), 2, &[1], true).is_err(), "sequence 1 does not exist");
/// # Ok::<(), llama_cpp_moe::LlamaError>(())
/// ```
#[derive(Debug)]
pub struct LlamaBatch<'a> {
    inner: crate::LlamaBatch,
    _tokens: PhantomData<&'a [LlamaToken]>,
}

impl LlamaBatch<'_> {
    /// Room for `n_tokens` tokens, each in up to `n_seq_max` sequences. Where llama-cpp-2
    /// panics (`n_tokens` over `i32::MAX`), the size is clamped.
    #[must_use]
    pub fn new(n_tokens: usize, n_seq_max: i32) -> Self {
        crate::LlamaBatch::new(n_tokens, n_seq_max).into()
    }

    /// Adds `token` at position `pos` in sequences `seq_ids`; `logits` asks for its logits.
    ///
    /// # Errors
    /// The batch is full, a sequence id is outside `0..n_seq_max`, or `pos` is negative.
    pub fn add(
        &mut self,
        token: LlamaToken,
        pos: i32,
        seq_ids: &[i32],
        logits: bool,
    ) -> Result<(), BatchAddError> {
        self.inner.add(token, pos, seq_ids, logits)
    }

    /// Adds `tokens` to sequence `seq_id` at positions `0..tokens.len()`, as llama-cpp-2 does
    /// (whatever the batch already holds); the last token gets logits, every token with
    /// `logits_all`. Nothing is added when they do not all fit.
    ///
    /// # Errors
    /// The tokens do not fit, or `seq_id` is outside `0..n_seq_max`.
    pub fn add_sequence(
        &mut self,
        tokens: &[LlamaToken],
        seq_id: i32,
        logits_all: bool,
    ) -> Result<(), BatchAddError> {
        let needed = self.inner.n_tokens() + tokens.len();
        if needed > self.inner.capacity() {
            return Err(LlamaError::Batch(format!(
                "{needed} tokens do not fit in a batch of {}",
                self.inner.capacity()
            )));
        }
        for (i, &token) in tokens.iter().enumerate() {
            let pos = i32::try_from(i)
                .map_err(|_| LlamaError::Batch(format!("position {i} does not fit in an i32")))?;
            self.inner
                .add(token, pos, &[seq_id], logits_all || i + 1 == tokens.len())?;
        }
        Ok(())
    }

    /// Empties the batch, keeping its allocation.
    pub fn clear(&mut self) {
        self.inner.clear();
    }

    /// Tokens in the batch, as llama.cpp's `i32`: positions are `i32` too, so
    /// `batch.n_tokens()` is the next position or the last output's index plus one.
    #[must_use]
    pub fn n_tokens(&self) -> i32 {
        // The batch never holds more than i32::MAX tokens (`crate::LlamaBatch::new` clamps).
        i32::try_from(self.inner.n_tokens()).unwrap_or(i32::MAX)
    }

    /// This crate's batch.
    #[must_use]
    pub fn into_inner(self) -> crate::LlamaBatch {
        self.inner
    }
}

impl From<crate::LlamaBatch> for LlamaBatch<'_> {
    fn from(inner: crate::LlamaBatch) -> Self {
        Self {
            inner,
            _tokens: PhantomData,
        }
    }
}

// Dereferencing to this crate's batch lets `LlamaContext::decode(&mut batch)` take this type
// unchanged, as it takes llama-cpp-2's, and exposes the read accessors (`tokens()`, ...).
impl Deref for LlamaBatch<'_> {
    type Target = crate::LlamaBatch;

    fn deref(&self) -> &crate::LlamaBatch {
        &self.inner
    }
}

impl DerefMut for LlamaBatch<'_> {
    fn deref_mut(&mut self) -> &mut crate::LlamaBatch {
        &mut self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::LlamaBatch;
    use crate::LlamaToken;

    #[test]
    fn add_sequence_starts_at_position_zero_and_is_all_or_nothing() {
        let mut batch = LlamaBatch::new(3, 1);
        batch.add(LlamaToken(9), 5, &[0], false).unwrap();
        batch
            .add_sequence(&[LlamaToken(1), LlamaToken(2)], 0, false)
            .unwrap();
        assert_eq!(batch.n_tokens(), 3);
        assert_eq!(batch.output_flags(), [false, false, true]);
        assert_eq!(batch.max_pos(), Some(5));
        batch.clear();
        let err = batch
            .add_sequence(&[LlamaToken(1); 4], 0, true)
            .unwrap_err();
        assert!(err.to_string().contains("do not fit"), "{err}");
        assert_eq!(batch.n_tokens(), 0, "nothing added");
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut batch = LlamaBatch::new(1, 1);
        assert!(batch.add(LlamaToken(1), -1, &[0], true).is_err());
        assert!(batch.add(LlamaToken(1), 0, &[], true).is_err());
        batch.add(LlamaToken(1), 0, &[0], true).unwrap();
        assert!(batch.add(LlamaToken(1), 1, &[0], true).is_err(), "full");
    }
}
