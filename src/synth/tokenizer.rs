//! The synthetic byte-level BPE vocabulary every preset gets.

use llama_cpp::gguf::GgufValue;

use super::builder::Kv;
use super::SynthError;

/// `(tokens, token types, merges, bos id, eos id)`.
pub type Vocab = (Vec<String>, Vec<i32>, Vec<String>, u32, u32);

/// `llama_token_type` values (`include/llama.h`).
const TOKEN_TYPE_NORMAL: i32 = 1;
const TOKEN_TYPE_CONTROL: i32 = 3;

/// A few of GPT-2's first merges; each result is also a token. Every part of
/// a merge is a byte token or the result of an earlier merge.
const MERGES: &[&str] = &[
    "Ġ t", "Ġ a", "h e", "i n", "r e", "o n", "Ġt he", "e r", "Ġ s", "a t", "Ġ w", "Ġ o", "e n",
    "Ġ c", "i t", "i s", "a n", "o r", "e s", "Ġ b", "e d", "Ġ f", "in g", "Ġ p", "o u", "Ġa n",
    "a l", "a r", "Ġt o", "Ġ m", "Ġo f", "Ġ in", "Ġ d", "Ġ h", "Ġan d",
];

/// Text of the BOS token.
pub const BOS_TEXT: &str = "<|startoftext|>";
/// Text of the EOS token.
pub const EOS_TEXT: &str = "<|endoftext|>";

/// The smallest vocabulary the synthetic tokenizer fits in.
pub fn min_vocab() -> u32 {
    (256 + MERGES.len() + 2) as u32
}

/// GPT-2's `bytes_to_unicode`: the printable character standing for a byte.
pub fn byte_to_unicode(b: u8) -> char {
    let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable {
        char::from(b)
    } else {
        // the n-th non-printable byte maps to U+0100 + n
        let n = (0..b)
            .filter(|&c| !matches!(c, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF))
            .count() as u32;
        char::from_u32(256 + n).expect("valid code point")
    }
}

/// The synthetic vocabulary: `(tokens, token types, merges, bos id, eos id)`.
///
/// Ids `0..256`: byte `i` as GPT-2 writes it; then the merge results; then
/// `<filler_N>` (normal tokens that no text tokenizes to); the last two ids
/// are the control tokens [`BOS_TEXT`] and [`EOS_TEXT`].
///
/// Errors if `n_vocab` is below [`min_vocab`].
pub fn synthetic_vocab(n_vocab: u32) -> Result<Vocab, SynthError> {
    let min = min_vocab();
    if n_vocab < min {
        return Err(SynthError::VocabTooSmall {
            vocab: n_vocab,
            min,
        });
    }
    let n = n_vocab as usize;
    let mut tokens: Vec<String> = (0..=255u8)
        .map(|b| byte_to_unicode(b).to_string())
        .collect();
    for m in MERGES {
        tokens.push(m.replacen(' ', "", 1));
    }
    let first_filler = tokens.len();
    for i in first_filler..n - 2 {
        tokens.push(format!("<filler_{i}>"));
    }
    tokens.push(BOS_TEXT.to_string());
    tokens.push(EOS_TEXT.to_string());
    let mut types = vec![TOKEN_TYPE_NORMAL; n];
    types[n - 2] = TOKEN_TYPE_CONTROL;
    types[n - 1] = TOKEN_TYPE_CONTROL;
    let merges = MERGES.iter().map(|s| s.to_string()).collect();
    Ok((tokens, types, merges, n_vocab - 2, n_vocab - 1))
}

pub(super) fn add_tokenizer(kv: &mut Kv, n_vocab: u32) -> Result<(), SynthError> {
    let (tokens, types, merges, bos, eos) = synthetic_vocab(n_vocab)?;
    kv.set("tokenizer.ggml.model", GgufValue::String("gpt2".into()));
    kv.set("tokenizer.ggml.pre", GgufValue::String("gpt-2".into()));
    kv.set(
        "tokenizer.ggml.tokens",
        GgufValue::Array(tokens.into_iter().map(GgufValue::String).collect()),
    );
    kv.set(
        "tokenizer.ggml.token_type",
        GgufValue::Array(types.into_iter().map(GgufValue::I32).collect()),
    );
    kv.set(
        "tokenizer.ggml.merges",
        GgufValue::Array(merges.into_iter().map(GgufValue::String).collect()),
    );
    kv.set("tokenizer.ggml.bos_token_id", GgufValue::U32(bos));
    kv.set("tokenizer.ggml.eos_token_id", GgufValue::U32(eos));
    kv.set("tokenizer.ggml.add_bos_token", GgufValue::Bool(true));
    kv.set("tokenizer.ggml.add_eos_token", GgufValue::Bool(false));
    Ok(())
}
