//! [`LlamaVocab`]: tokenization, detokenization and special tokens.

use crate::error::{LlamaError, Result};
use crate::sys;
use std::marker::PhantomData;

/// A token id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct LlamaToken(pub i32);

/// Whether [`LlamaVocab::tokenize`] adds the model's BOS token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddBos {
    /// Add it if the model asks for one.
    Always,
    /// Never add it.
    Never,
}

/// Whether special tokens are rendered as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// Render (`<|im_end|>` appears in text) / parse special tokens.
    Tokenize,
    /// Leave them out / treat them as plain text.
    Plaintext,
}

/// The vocabulary of a model, borrowed from it.
#[derive(Debug, Clone, Copy)]
pub struct LlamaVocab<'model> {
    raw: *const sys::llama_vocab,
    _model: PhantomData<&'model ()>,
}

// SAFETY: the vocabulary is immutable after load and its queries are
// thread-safe reads (it is shared the same way as the model).
unsafe impl Send for LlamaVocab<'_> {}
// SAFETY: as above.
unsafe impl Sync for LlamaVocab<'_> {}

impl<'model> LlamaVocab<'model> {
    pub(crate) fn new(raw: *const sys::llama_vocab) -> Self {
        Self {
            raw,
            _model: PhantomData,
        }
    }

    /// Number of tokens.
    pub fn n_tokens(&self) -> i32 {
        // SAFETY: `raw` is the live vocab of the borrowed model.
        unsafe { sys::llama_vocab_n_tokens(self.raw) }
    }

    /// Errors unless `token` is a valid id of this vocabulary.
    pub fn check_token(&self, token: LlamaToken) -> Result<()> {
        let n_vocab = self.n_tokens();
        if (0..n_vocab).contains(&token.0) {
            Ok(())
        } else {
            Err(LlamaError::TokenOutOfRange {
                token: token.0,
                n_vocab,
            })
        }
    }

    /// Tokenizes `text`. With `parse_special`, text such as `<|im_start|>`
    /// becomes the special token.
    pub fn tokenize(
        &self,
        text: &str,
        add_bos: AddBos,
        parse_special: bool,
    ) -> Result<Vec<LlamaToken>> {
        let len = i32::try_from(text.len())
            .map_err(|_| LlamaError::Tokenize("text longer than 2 GiB".into()))?;
        let add_special = add_bos == AddBos::Always;
        // Usually enough: a token covers at least one byte, plus BOS/EOS.
        // Not always (an escaped space is 3 bytes, a prefix space is added),
        // hence the retry in `fill_tokens`.
        fill_tokens(text.len().saturating_add(2), |tokens| {
            // SAFETY: text is valid for `len` bytes; `tokens` is writable
            // for the count passed (at most i32::MAX, clamped in
            // fill_tokens); LlamaToken is a transparent i32.
            unsafe {
                sys::llama_tokenize(
                    self.raw,
                    text.as_ptr().cast(),
                    len,
                    tokens.as_mut_ptr().cast(),
                    tokens.len() as i32,
                    add_special,
                    parse_special,
                )
            }
        })
    }

    /// The bytes of one token. Not always valid UTF-8 on its own: a
    /// character may span tokens (see [`TokenDecoder`]).
    pub fn token_to_bytes(&self, token: LlamaToken, special: Special) -> Result<Vec<u8>> {
        self.piece_bytes(token, 0, special == Special::Tokenize)
    }

    /// llama.cpp's piece of `token`: `lstrip` leading spaces dropped,
    /// special tokens rendered when `render_special`. Retries once with the
    /// size llama.cpp asks for.
    pub(crate) fn piece_bytes(
        &self,
        token: LlamaToken,
        lstrip: i32,
        render_special: bool,
    ) -> Result<Vec<u8>> {
        // llama.cpp indexes its token table with `at()`: an unknown id would
        // throw through C.
        self.check_token(token)?;
        let mut buf = vec![0u8; 32];
        for _ in 0..2 {
            let len = i32::try_from(buf.len()).unwrap_or(i32::MAX);
            // SAFETY: the token is in range (checked), `buf` is writable for
            // `len` bytes, and llama.cpp writes at most `len` bytes (no NUL),
            // returning minus the needed size when `len` is too small.
            let n = unsafe {
                sys::llama_token_to_piece(
                    self.raw,
                    token.0,
                    buf.as_mut_ptr().cast(),
                    len,
                    lstrip,
                    render_special,
                )
            };
            match usize::try_from(n) {
                Ok(n) => {
                    buf.truncate(n);
                    return Ok(buf);
                }
                Err(_) => buf.resize(n.unsigned_abs() as usize, 0),
            }
        }
        Err(LlamaError::Tokenize(format!(
            "token {} has no piece",
            token.0
        )))
    }

    /// The text of one token, lossily decoded (use [`TokenDecoder`] when
    /// streaming).
    pub fn token_to_piece(&self, token: LlamaToken, special: Special) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.token_to_bytes(token, special)?).into_owned())
    }

    /// Detokenizes a whole sequence.
    pub fn detokenize(&self, tokens: &[LlamaToken], special: Special) -> Result<String> {
        let mut decoder = TokenDecoder::new();
        let mut out = String::new();
        for &token in tokens {
            out.push_str(&decoder.push(&self.token_to_bytes(token, special)?));
        }
        out.push_str(&decoder.finish());
        Ok(out)
    }

    /// Whether the token ends generation (EOS, EOT, ...).
    pub fn is_eog(&self, token: LlamaToken) -> bool {
        // SAFETY: llama_vocab_is_eog checks membership in a set; any id is fine.
        unsafe { sys::llama_vocab_is_eog(self.raw, token.0) }
    }

    /// Whether the token is a control token.
    pub fn is_control(&self, token: LlamaToken) -> bool {
        self.check_token(token).is_ok()
            // SAFETY: the id was checked to be in range.
            && unsafe { sys::llama_vocab_is_control(self.raw, token.0) }
    }

    /// Beginning-of-sequence token, if the model has one.
    pub fn bos(&self) -> Option<LlamaToken> {
        // SAFETY: a plain query.
        special_token(unsafe { sys::llama_vocab_bos(self.raw) })
    }

    /// End-of-sequence token, if the model has one.
    pub fn eos(&self) -> Option<LlamaToken> {
        // SAFETY: a plain query.
        special_token(unsafe { sys::llama_vocab_eos(self.raw) })
    }

    /// End-of-turn token, if the model has one.
    pub fn eot(&self) -> Option<LlamaToken> {
        // SAFETY: a plain query.
        special_token(unsafe { sys::llama_vocab_eot(self.raw) })
    }

    /// Newline token, if the model has one.
    pub fn nl(&self) -> Option<LlamaToken> {
        // SAFETY: a plain query.
        special_token(unsafe { sys::llama_vocab_nl(self.raw) })
    }

    /// Whether tokenizing with [`AddBos::Always`] adds a BOS token.
    pub fn adds_bos(&self) -> bool {
        // SAFETY: a plain query.
        unsafe { sys::llama_vocab_get_add_bos(self.raw) }
    }
}

/// Runs a llama.cpp "write up to n tokens, return the count, or minus the
/// count needed" call, growing the buffer once when the guess was short.
fn fill_tokens(
    guess: usize,
    mut call: impl FnMut(&mut [LlamaToken]) -> i32,
) -> Result<Vec<LlamaToken>> {
    let mut tokens = vec![LlamaToken(0); guess.clamp(1, i32::MAX as usize)];
    for _ in 0..2 {
        let n = call(&mut tokens);
        match usize::try_from(n) {
            Ok(n) => {
                tokens.truncate(n);
                return Ok(tokens);
            }
            // i32::MIN: the count overflowed an int in llama.cpp.
            Err(_) if n == i32::MIN => break,
            Err(_) => tokens.resize(n.unsigned_abs() as usize, LlamaToken(0)),
        }
    }
    let reason = "llama_tokenize asked for more room twice (or the count overflowed)";
    Err(LlamaError::Tokenize(reason.into()))
}

fn special_token(id: i32) -> Option<LlamaToken> {
    (id >= 0).then_some(LlamaToken(id))
}

/// Turns a stream of token bytes into text without ever splitting a UTF-8
/// character: bytes of an incomplete character wait for the next token.
/// Invalid sequences become U+FFFD.
///
/// ```
/// let mut decoder = llama_cpp_moe::TokenDecoder::new();
/// let euro = "€".as_bytes(); // three bytes, possibly from three tokens
/// assert_eq!(decoder.push(&euro[..1]), "");
/// assert_eq!(decoder.push(&euro[1..2]), "");
/// assert_eq!(decoder.push(&euro[2..]), "€");
/// assert_eq!(decoder.finish(), "");
/// ```
#[derive(Debug, Default, Clone)]
pub struct TokenDecoder {
    pending: Vec<u8>,
}

impl TokenDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes; returns the text that is now complete.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(text) => {
                    out.push_str(text);
                    self.pending.clear();
                    return out;
                }
                Err(err) => {
                    let valid = err.valid_up_to();
                    // SAFETY-free: from_utf8 said the first `valid` bytes are UTF-8.
                    out.push_str(
                        std::str::from_utf8(&self.pending[..valid]).expect("valid prefix"),
                    );
                    match err.error_len() {
                        // An incomplete character at the end: wait for more.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    /// Flushes what is left (an incomplete character becomes U+FFFD).
    pub fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::{fill_tokens, LlamaToken, TokenDecoder};

    #[test]
    fn a_short_guess_is_retried_with_the_size_llama_cpp_asks_for() {
        let mut calls = Vec::new();
        let tokens = fill_tokens(2, |buf| {
            calls.push(buf.len());
            if buf.len() < 5 {
                return -5;
            }
            buf[..5].copy_from_slice(&[1, 2, 3, 4, 5].map(LlamaToken));
            5
        })
        .unwrap();
        assert_eq!(tokens, [1, 2, 3, 4, 5].map(LlamaToken));
        assert_eq!(calls, [2, 5]);
        assert!(
            fill_tokens(1, |_| i32::MIN).is_err(),
            "an overflowed count is an error"
        );
        assert!(
            fill_tokens(1, |buf| -(buf.len() as i32) - 1).is_err(),
            "always short: gives up"
        );
    }

    #[test]
    fn decoder_never_splits_characters() {
        let text = "héllo, 世界! 🦀";
        for chunk in 1..5 {
            let mut decoder = TokenDecoder::new();
            let mut out = String::new();
            for piece in text.as_bytes().chunks(chunk) {
                let part = decoder.push(piece);
                assert!(!part.contains('\u{FFFD}'));
                out.push_str(&part);
            }
            out.push_str(&decoder.finish());
            assert_eq!(out, text);
        }
    }

    #[test]
    fn decoder_replaces_invalid_bytes() {
        let mut decoder = TokenDecoder::new();
        assert_eq!(decoder.push(b"a\xffb"), "a\u{FFFD}b");
        assert_eq!(decoder.push(b"\xe2\x82"), "");
        assert_eq!(decoder.finish(), "\u{FFFD}");
    }
}
