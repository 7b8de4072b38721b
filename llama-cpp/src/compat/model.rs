//! llama-cpp-2's token methods on [`LlamaModel`] (this crate has them on [`crate::LlamaVocab`]).

use crate::error::{LlamaError, Result};
use crate::{AddBos, LlamaModel, LlamaToken, Special};
use encoding_rs::CoderResult;
use std::num::NonZeroU16;

impl LlamaModel {
    /// Tokenizes `text`, parsing special tokens such as `<|im_start|>` (llama-cpp-2's
    /// `str_to_token`; [`crate::LlamaVocab::tokenize`] chooses).
    ///
    /// # Errors
    /// The text is over 2 GiB or llama.cpp fails to tokenize it.
    pub fn str_to_token(&self, text: &str, add_bos: AddBos) -> Result<Vec<LlamaToken>> {
        self.vocab().tokenize(text, add_bos, true)
    }

    /// The text of `token`, decoded with `decoder`, which keeps the bytes of a character split
    /// across tokens until the next call. `special` renders special tokens; `lstrip` drops up
    /// to that many leading spaces.
    ///
    /// # Errors
    /// The token is outside the vocabulary, or its piece cannot be read.
    pub fn token_to_piece(
        &self,
        token: LlamaToken,
        decoder: &mut encoding_rs::Decoder,
        special: bool,
        lstrip: Option<NonZeroU16>,
    ) -> Result<String> {
        let bytes = self.token_to_piece_bytes(token, special, lstrip)?;
        let too_long = || LlamaError::Tokenize(format!("the piece of token {token} is too long"));
        let mut out = String::with_capacity(
            decoder
                .max_utf8_buffer_length(bytes.len())
                .ok_or_else(too_long)?,
        );
        let mut rest = bytes.as_slice();
        loop {
            // `last = false`: an incomplete character stays in the decoder for the next token.
            let (result, read, _) = decoder.decode_to_string(rest, &mut out, false);
            rest = &rest[read..];
            match result {
                CoderResult::InputEmpty => return Ok(out),
                // Not expected with the capacity above; grow rather than drop text.
                CoderResult::OutputFull => out.reserve(
                    decoder
                        .max_utf8_buffer_length(rest.len())
                        .ok_or_else(too_long)?,
                ),
            }
        }
    }

    /// The text of `token`, lossily decoded (llama-cpp-2's deprecated `token_to_str`).
    ///
    /// # Errors
    /// The token is outside the vocabulary.
    pub fn token_to_str(&self, token: LlamaToken, special: Special) -> Result<String> {
        self.vocab().token_to_piece(token, special)
    }

    /// The raw bytes of `token`'s piece (see [`token_to_piece`](Self::token_to_piece)).
    fn token_to_piece_bytes(
        &self,
        token: LlamaToken,
        special: bool,
        lstrip: Option<NonZeroU16>,
    ) -> Result<Vec<u8>> {
        let lstrip = lstrip.map_or(0, |n| i32::from(n.get()));
        self.vocab().piece_bytes(token, lstrip, special)
    }

    /// The beginning-of-sequence token; `LlamaToken(-1)` (llama.cpp's `LLAMA_TOKEN_NULL`) when
    /// the model has none ([`crate::LlamaVocab::bos`] returns an `Option`).
    #[must_use]
    pub fn token_bos(&self) -> LlamaToken {
        self.vocab().bos().unwrap_or(NULL_TOKEN)
    }

    /// The end-of-sequence token; `LlamaToken(-1)` when the model has none.
    #[must_use]
    pub fn token_eos(&self) -> LlamaToken {
        self.vocab().eos().unwrap_or(NULL_TOKEN)
    }

    /// The newline token; `LlamaToken(-1)` when the model has none.
    #[must_use]
    pub fn token_nl(&self) -> LlamaToken {
        self.vocab().nl().unwrap_or(NULL_TOKEN)
    }

    /// Whether `token` ends generation (end of sequence, end of turn, ...).
    #[must_use]
    pub fn is_eog_token(&self, token: LlamaToken) -> bool {
        self.vocab().is_eog(token)
    }
}

/// llama.cpp's `LLAMA_TOKEN_NULL`.
const NULL_TOKEN: LlamaToken = LlamaToken(-1);
