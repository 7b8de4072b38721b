//! llama-cpp-2's path for [`LlamaToken`] (`llama_cpp_2::token`).
//!
//! The token data arrays and logit biases of llama-cpp-2's submodules are not provided.

pub use crate::LlamaToken;

impl LlamaToken {
    /// A token from its id.
    ///
    /// ```
    /// use llama_cpp_moe::token::LlamaToken;
    /// assert_eq!(LlamaToken::new(7), LlamaToken(7));
    /// ```
    #[must_use]
    pub fn new(token_id: i32) -> Self {
        Self(token_id)
    }
}

impl std::fmt::Display for LlamaToken {
    /// The id, as llama-cpp-2 prints it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::LlamaToken;

    #[test]
    fn displays_the_id() {
        assert_eq!(LlamaToken::new(-1).to_string(), "-1");
    }
}
